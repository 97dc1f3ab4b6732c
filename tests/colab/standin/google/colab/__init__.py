"""A stand-in for Colab's ``google.colab`` package, for the course's Colab simulation.

On Colab this package is installed and imported when the kernel starts, which is how the
notebooks' setup cells (``"google.colab" in sys.modules``) and ``course_utils.env.in_colab`` tell
that they run there. The course uses nothing else from it, so this stand-in holds nothing else:
any attribute a notebook asks for fails loudly, so that a new use of Colab's API is noticed.
"""

SIMULATED = True


def __getattr__(name):
    raise AttributeError(
        f"google.colab.{name}: the course's Colab simulation (tests/colab) does not provide it; "
        "if a notebook now uses it, add it to tests/colab/standin/google/colab"
    )
