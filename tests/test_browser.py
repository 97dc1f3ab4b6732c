"""The explorers in a real browser: JupyterLab on 127.0.0.1, driven by headless Chromium.

A notebook written here sets up every explorer of ``course_utils.widgets`` (with small inputs,
as notebooks 06 and 07 call them) and two progress bars. The tests run it in JupyterLab, move one
slider of each explorer and check that its figure is redrawn, check that the sliders' labels are
not cut off, that the progress bars render as widgets (not as text), and that the browser's
console shows no error apart from the known harmless ones listed in ``HARMLESS``.

They need Chromium, its driver and Selenium (``.ci/run`` installs the first two with apt on
Debian, ``requirements.txt`` the third); without them they skip and say why. Nothing goes to
the internet: Chromium runs with its background networking off, Selenium is given the driver
(so Selenium Manager downloads nothing), and every file lives in a temporary folder.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import textwrap
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _skip(reason: str) -> None:
    """Skip, saying why; but fail where the run requires this test (CI: COURSE_REQUIRE)."""
    if "browser" in os.environ.get("COURSE_REQUIRE", "").split(","):
        pytest.fail(f"COURSE_REQUIRE asks for the browser tests, but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


if CHROMIUM is None or CHROMEDRIVER is None:
    _skip(
        "the browser tests need Chromium and chromedriver on the PATH (Debian: apt-get install "
        "chromium chromium-driver; .ci/run installs them)"
    )
try:
    from selenium import webdriver
except ImportError:
    _skip("the browser tests need selenium (in requirements.txt)")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

#: Console errors that say nothing about the course, each with why it is harmless.
HARMLESS = {
    "the notebooks' 'Open in Colab' badge image needs the internet (closed here)": (
        lambda entry: (
            entry["source"] == "network"
            and "colab.research.google.com/assets/colab-badge.svg" in entry["message"]
        )
    ),
    # Only with ipywidgets 7 and its front end, jupyterlab_widgets 1.1 (the README's
    # "Explorers"): it typesets each label with MathJax 2's MathJax.Hub.Queue, which JupyterLab
    # 4's MathJax 3 lacks. It throws after writing the label, which shows as plain text.
    "ipywidgets 7's front end calls MathJax 2 (labels stay plain text)": (
        lambda entry: (
            entry["source"] == "javascript"
            and "@jupyter-widgets/jupyterlab-manager" in entry["message"]
            and "reading 'Queue'" in entry["message"]
        )
    ),
}

SETUP = """\
import torch
import torch.nn.functional as F

from course_utils import datasets, widgets

SCENES = dict(size_range=(0.25, 0.5), max_occlusion=0.25)  # as in notebook 06
test_set = datasets.ShapesScenes(10, seed=2, **SCENES)
CLASSES = test_set.class_names
image, target = test_set[9]
"""

NMS = """\
g = torch.Generator().manual_seed(6)
objects = target["boxes"].as_subclass(torch.Tensor)
raw_boxes = (
    objects.repeat_interleave(12, 0) + torch.randn(12 * len(objects), 4, generator=g) * 2.5
).clamp(0, 64)
raw_scores = torch.rand(len(raw_boxes), generator=g)
raw_labels = target["labels"].repeat_interleave(12)
widgets.nms_explorer(image, raw_boxes, raw_scores, raw_labels, CLASSES);
"""

ROI_ALIGN = """\
scene = test_set[3][0].as_subclass(torch.Tensor)
feature = F.avg_pool2d(scene[None].mean(1, keepdim=True), 8)[0, 0]  # as in notebook 07
widgets.roi_align_explorer(feature);
"""

#: The explorers' cells (name: source), in the notebook's order after the set-up cell.
EXPLORERS = {
    "iou": "widgets.iou_explorer((12, 14, 40, 42));",
    "nms": NMS,
    "anchors": "widgets.anchor_explorer(test_set[5][0], stride=4);",
    "roi_align": ROI_ALIGN,
}

TQDM = """\
import time

from tqdm.auto import tqdm

for _ in tqdm(range(4), desc="tqdm.auto"):
    time.sleep(0.05)
"""

COURSE_BAR = """\
from course_utils.progress import progress_bar

bar = progress_bar(4, "course bar", unit="epoch")
for _ in range(4):
    time.sleep(0.05)
    bar.update()
bar.close()
"""

PROGRESS = {"tqdm": TQDM, "course": COURSE_BAR}

TITLE = textwrap.dedent("""\
    # Explorers

    [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/)
    """)


def _notebook() -> dict:
    sources = [SETUP, *EXPLORERS.values(), *PROGRESS.values()]
    code = [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": s}
        for s in sources
    ]
    cells = [{"cell_type": "markdown", "metadata": {}, "source": TITLE}, *code]
    return {
        "cells": [{"id": f"cell-{i}", **cell} for i, cell in enumerate(cells)],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    driver: object
    folder: Path
    log: Path
    console: list = field(default_factory=list)  # every console entry read so far

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def read_console(self) -> None:
        self.console += self.driver.get_log("browser")

    def wait(self, condition, timeout: float, what: str):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
                lambda _: condition()
            )
        except TimeoutException:
            self.driver.save_screenshot(str(self.folder / "timeout.png"))
            self.read_console()
            console = [
                f"{e['level']} {e['message']}" for e in self.console if e["level"] != "DEBUG"
            ]
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}; screenshot in {self.folder}; "
                f"console: {console}; server log:\n{tail}"
            ) from None

    def cell(self, index: int):
        """Cell ``index`` (the title is 0) as a web element, scrolled into view."""
        element = self.driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")[index]
        self.js("arguments[0].scrollIntoView({block: 'start'});", element)
        return element


# Cell results: [execution count, error text or None] per code cell (model, not DOM).
CELLS_JS = """
const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
const session = panel && panel.sessionContext && panel.sessionContext.session;
const kernel = session && session.kernel;
if (!kernel || kernel.status !== 'idle') return null;
return panel.content.widgets.filter(c => c.model.type === 'code').map(c => {
  const outputs = c.model.outputs.toJSON();
  const error = outputs.find(o => o.output_type === 'error');
  return [c.model.executionCount, error ? error.ename + ': ' + error.evalue : null];
});
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab (its own port, token and config folders) with the notebook opened in
    headless Chromium and every cell run."""
    folder = tmp_path_factory.mktemp("browser")
    (folder / "notebooks").mkdir()
    (folder / "notebooks" / "explorers.ipynb").write_text(json.dumps(_notebook()))
    # No "Would you like to get notified about official Jupyter news?" toast over the cells.
    notification = folder / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel's inline
    env.update(
        JUPYTER_CONFIG_DIR=str(folder / "config"),
        JUPYTER_DATA_DIR=str(folder / "data"),
        JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(folder / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(folder / "workspaces"),
        IPYTHONDIR=str(folder / "ipython"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    log = folder / "jupyterlab.log"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={folder / 'notebooks'}",
            "--allow-root",
            "--expose-app-in-browser",  # window.jupyterapp: run the cells, read their results
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    driver = None
    try:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            # the network is closed: without these Chromium floods refused connections
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={folder / 'chromium'}",
            "--window-size=1280,1000",
        ]:
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SE_OFFLINE", "true")  # Selenium Manager: never download a driver
            driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        lab = Lab(driver, folder, log)

        def server_up():
            assert server.poll() is None, f"JupyterLab exited:\n{log.read_text()[-3000:]}"
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/status",
                    headers={"Authorization": f"token {token}"},
                )
                with urllib.request.urlopen(request, timeout=2):
                    return True
            except OSError:
                return False

        lab.wait(server_up, 60, "JupyterLab to start")
        driver.get(f"http://127.0.0.1:{port}/lab/tree/explorers.ipynb?token={token}")
        lab.wait(lambda: lab.js(CELLS_JS) is not None, 90, "the notebook and its kernel")
        lab.js("window.jupyterapp.commands.execute('notebook:run-all-cells');")
        # Run All stops at a cell that fails: done when every cell ran or one failed.
        cells = lab.wait(
            lambda: (
                (c := lab.js(CELLS_JS))
                and (all(n is not None for n, _ in c) or any(error for _, error in c))
                and c
            ),
            120,
            "every cell to run",
        )
        errors = [error for _, error in cells if error]
        assert not errors, f"cells failed in the kernel: {errors}"
        lab.read_console()
        yield lab
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _explorer(lab: Lab, name: str):
    """The explorer's interact widget (sliders and figure), once its figure is drawn."""
    cell = lab.cell(2 + list(EXPLORERS).index(name))
    lab.wait(
        lambda: cell.find_elements(By.CSS_SELECTOR, ".widget-interact .widget-output img"),
        30,
        f"the {name} explorer's figure",
    )
    return cell.find_element(By.CSS_SELECTOR, ".widget-interact")


def _figure(widget) -> str:
    """The figure's PNG as a data URL ("" while it is being redrawn), read in one step: the
    <img> element is replaced at each redraw."""
    return widget.parent.execute_script(
        "const img = arguments[0].querySelector('.widget-output img'); return img ? img.src : '';",
        widget,
    )


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_moving_a_slider_redraws_the_figure(lab, name):
    widget = _explorer(lab, name)
    before = _figure(widget)
    assert before.startswith("data:image/png"), before[:80]
    slider = widget.find_element(By.CSS_SELECTOR, ".widget-slider")
    label = slider.find_element(By.CSS_SELECTOR, ".widget-label").text
    readout = slider.find_element(By.CSS_SELECTOR, ".widget-readout")
    value = readout.text
    # As a student with the keyboard: focus the slider's handle, press the right arrow twice
    # (ipywidgets 8 draws it with noUiSlider, ipywidgets 7 with jQuery UI).
    handle = slider.find_element(By.CSS_SELECTOR, ".noUi-handle, .ui-slider-handle")
    handle.send_keys(Keys.ARROW_RIGHT * 2)
    lab.wait(lambda: readout.text != value, 10, f"the {name} explorer's {label!r} to move")
    lab.wait(
        lambda: _figure(widget) not in ("", before),
        30,
        f"the {name} explorer's figure to change after {label!r} went {value} -> {readout.text}",
    )
    widget.screenshot(str(lab.folder / f"{name}.png"))


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_slider_labels_are_shown_whole(lab, name):
    widget = _explorer(lab, name)
    labels = lab.js(
        """return Array.from(arguments[0].querySelectorAll('.widget-label'))
             .filter(l => l.offsetParent !== null && l.textContent)
             .map(l => [l.textContent, l.scrollWidth, l.clientWidth]);""",
        widget,
    )
    assert labels, f"the {name} explorer shows no labels"
    cut = [f"{text!r} ({full} px in {shown} px)" for text, full, shown in labels if full > shown]
    assert not cut, f"the {name} explorer's labels are cut off: {', '.join(cut)}"


@pytest.mark.parametrize("name", list(PROGRESS))
def test_progress_bars_are_widgets(lab, name):
    cell = lab.cell(2 + len(EXPLORERS) + list(PROGRESS).index(name))
    bars = cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea .widget-hprogress .progress-bar")
    text = cell.find_element(By.CSS_SELECTOR, ".jp-OutputArea").text
    assert len(bars) == 1, f"{name}: no progress widget, the output reads {text!r}"
    assert bars[0].value_of_css_property("width") == bars[0].find_element(
        By.XPATH, ".."
    ).value_of_css_property("width"), f"{name}: the bar did not reach 100%: {text!r}"
    assert "4/4" in text and "|" not in text, f"{name}: {text!r}"  # no text bar next to it


def test_console_shows_no_errors(lab):
    """Runs last: the console of everything above (loading, running, moving sliders)."""
    lab.read_console()
    errors = [e for e in lab.console if e["level"] == "SEVERE"]
    unexplained = [e for e in errors if not any(known(e) for known in HARMLESS.values())]
    assert not unexplained, "\n".join(f"{e['source']}: {e['message']}" for e in unexplained)
