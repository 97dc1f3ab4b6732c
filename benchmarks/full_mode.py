"""Run notebooks in full mode (COURSE_FAST=0: the budgets meant for a GPU) and report each one.

Run from the repository root:
    python benchmarks/full_mode.py                          every notebook, 30 minutes each at most
    python benchmarks/full_mode.py 06 07 --cap 900 --out /tmp/full

One notebook at a time, in a fresh kernel, top to bottom; a notebook stops at its first error or
when its cap runs out (then it says which cell it had reached). The executed notebooks are saved
in --out (never over the committed ones), and for each the script prints its time and the output
lines that carry the notebook's headline numbers (accuracy, error, mIoU, mAP, PCK, OKS), beside the
same lines of the committed FAST-mode notebook. Not a test: full mode on a CPU takes long.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parent.parent
HEADLINE = re.compile(r"(?i:accuracy|error\b|mean IoU)|mIoU|\bmAP\b|mAP@|PCK|OKS|\bAP\b")


def headline_lines(nb) -> list[str]:
    """Text output lines that report a headline number (a keyword and a digit)."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            for line in str(text).splitlines():
                if HEADLINE.search(line) and re.search(r"\d", line) and len(line) < 200:
                    lines.append(line.rstrip())
    return lines


def run(path: Path, cap: float, out: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=int(cap), resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    reached, status = 0, "finished"
    code_cells = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    try:
        with client.setup_kernel(env={**os.environ, "COURSE_FAST": "0"}):
            for number, index in enumerate(code_cells, 1):
                left = cap - (time.perf_counter() - start)
                if left <= 0:
                    raise CellTimeoutError("cap")
                client.timeout = int(max(1, left))
                reached = number
                client.execute_cell(nb.cells[index], index)
    except CellTimeoutError:
        status = f"capped at {cap / 60:.0f} min (in code cell {reached} of {len(code_cells)})"
    except CellExecutionError as exc:
        status = f"error in code cell {reached}: {str(exc).strip().splitlines()[-1]}"
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / path.name)
    return {"notebook": path.name, "seconds": seconds, "status": status, "nb": nb}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers or names (default: all)")
    parser.add_argument("--cap", type=float, default=1800, help="seconds per notebook")
    parser.add_argument("--out", type=Path, default=Path("/tmp/course-full-mode"))
    args = parser.parse_args(argv)
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.notebooks:
        paths = [
            p for p in paths if any(p.name.startswith(n) or n in p.name for n in args.notebooks)
        ]
    if args.out.resolve() == (ROOT / "notebooks").resolve():
        parser.error("--out must not be the notebooks folder (it holds the FAST-mode notebooks)")
    failed = False
    for path in paths:
        result = run(path, args.cap, args.out)
        failed |= result["status"] != "finished"
        print(f"\n## {path.name}: {result['status']}, {result['seconds']:.0f} s (full mode)")
        fast = headline_lines(nbformat.read(path, as_version=4))
        full = headline_lines(result["nb"])
        for label, lines in (("FAST (committed)", fast), ("full", full)):
            print(f"  {label}:")
            for line in lines:
                print(f"    {line}")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
