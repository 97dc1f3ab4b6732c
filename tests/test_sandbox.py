"""What the sandbox's process sees and may do (Linux namespaces; skipped elsewhere)."""

import pytest

from course_utils.grading.sandbox import Limits, Sandbox, isolation
from course_utils.grading.wire import decode

pytestmark = pytest.mark.skipif(
    isolation()[0] != "namespaces", reason=f"the sandbox needs Linux namespaces: {isolation()[1]}"
)


def inside(sandbox: Sandbox, source: str):
    """Run ``source`` in the sandbox; the value it leaves in ``r``."""
    assert sandbox.request({"op": "exec", "source": source}, 60) == {"ok": None}
    return decode(sandbox.request({"op": "lookup", "name": "r"}, 60)["ok"])


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(limits=Limits(total_memory_bytes=2 * 2**30)) as box:
        yield box


def test_its_world(sandbox):
    caps, devices, variables, uid = inside(
        sandbox,
        "import os\n"
        "status = open('/proc/self/status').read()\n"
        "r = [status.split('CapEff:')[1].split()[0], sorted(os.listdir('/dev')),\n"
        "     sorted(os.environ), os.getuid()]",
    )
    assert caps == "0000000000000000", "no capabilities"
    assert devices == [
        "fd",
        "full",
        "null",
        "random",
        "shm",
        "stderr",
        "stdin",
        "stdout",
        "urandom",
        "zero",
    ]
    assert "COURSE_FAST" in variables and "PYTEST_CURRENT_TEST" not in variables
    assert uid != 0


def test_nothing_outside_is_writable_and_there_is_no_network(sandbox):
    r = inside(
        sandbox,
        "import socket\n"
        "r = []\n"
        "for path in ('/usr/x', '/etc/x', '/x', '/dev/x'):\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "        r.append('wrote ' + path)\n"
        "    except OSError:\n"
        "        pass\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 22), timeout=2)\n"
        "    r.append('connected')\n"
        "except OSError as e:\n"
        "    r.append(e.errno)",
    )
    assert r[:-1] == [] and r[-1] == 101  # ENETUNREACH: not even a loopback


def test_the_whole_submission_is_held_to_its_memory(sandbox):
    if sandbox.cgroup_note != "a cgroup limits it as a whole":
        pytest.skip(f"no cgroup here: {sandbox.cgroup_note}")
    # three processes of 1 GB each cannot all live in a 2 GB submission: one is killed
    r = inside(
        sandbox,
        "import os, signal, time, torch\n"
        "kids = []\n"
        "for _ in range(3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        x = torch.ones(2**28)\n"
        "        time.sleep(40)\n"
        "        os._exit(0)\n"
        "    kids.append(pid)\n"
        "r, start = {}, time.time()\n"
        "while 9 not in r.values() and len(r) < 3 and time.time() - start < 30:\n"
        "    time.sleep(0.2)\n"
        "    for k in set(kids) - set(r):\n"
        "        done, status = os.waitpid(k, os.WNOHANG)\n"
        "        if done:\n"
        "            r[k] = status\n"
        "for k in set(kids) - set(r):\n"
        "    os.kill(k, signal.SIGTERM)\n"
        "    r[k] = ('still running', os.waitpid(k, 0)[1])\n"
        "r = sorted(r.values(), key=str)",
    )
    assert 9 in r, r  # SIGKILL from the memory cgroup (polled: a loaded machine is slow)
