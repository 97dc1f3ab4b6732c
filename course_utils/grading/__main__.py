"""``python -m course_utils.grading {release,grade} ...``: see ``--help``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .exercises import NotebookError
from .grade import grade_folder, grade_submission
from .release import release_folder
from .report import (
    CSV_HEADER,
    STATS_HEADER,
    csv_text,
    score_figure,
    statistics,
    statistics_csv,
    statistics_table,
)


def _refuse_foreign(path: Path, is_ours) -> None:
    """Never overwrite a file the grader did not write itself."""
    if path.exists() and not is_ours(path):
        raise NotebookError(f"{path} exists and was not written by the grader; not overwriting it")


def _json_is_ours(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    items = data if isinstance(data, list) else [data]
    return all(isinstance(d, dict) and d.get("grader") == "course_utils.grading" for d in items)


def _csv_is_ours(header: list[str]):
    def check(path: Path) -> bool:
        try:
            first = path.read_text(encoding="utf-8").splitlines()[:1]
        except (OSError, UnicodeDecodeError):
            return False
        return first == [",".join(header)]

    return check


def _png_is_ours(path: Path) -> bool:
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.info.get("Software") == "course_utils.grading"
    except Exception:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="write the student versions of the notebooks")
    rel.add_argument("src", type=Path, help="folder of reference notebooks (notebooks/)")
    rel.add_argument("out", type=Path, help="folder for the student versions (exercises/)")
    grd = commands.add_parser("grade", help="grade a submitted notebook, or a folder of them")
    grd.add_argument("submission", type=Path, help="a student's .ipynb, or a folder of them")
    grd.add_argument(
        "--reference", type=Path, help="reference notebook (default: from the file name)"
    )
    grd.add_argument(
        "--notebooks", type=Path, help="where to look for references (default: ./notebooks)"
    )
    grd.add_argument("--json", type=Path, help="also write the result(s) as JSON to this file")
    grd.add_argument("--csv", type=Path, help="write one CSV row per submission to this file")
    grd.add_argument(
        "--stats",
        type=Path,
        help="for a folder: write per-exercise statistics to STATS.csv and the score "
        "distribution to STATS.png (STATS without a suffix)",
    )
    grd.add_argument(
        "--hidden-seed",
        type=int,
        help="the instructor's seed for the hidden cases (default: a random one; keep it secret)",
    )
    grd.add_argument(
        "--cell-timeout",
        type=int,
        default=120,
        help="seconds an exercise cell, or one call of an answer, may run (default 120)",
    )
    grd.add_argument(
        "--total-timeout", type=float, default=900, help="seconds per submission (default 900)"
    )
    grd.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="for a folder: grade this many submissions at a time (default 1)",
    )
    args = parser.parse_args(argv)
    if args.command == "grade" and args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")

    try:
        if args.command == "release":
            for path in release_folder(args.src, args.out):
                print(f"released {path}")
            return 0
        stats = (
            (args.stats.with_suffix(".csv"), args.stats.with_suffix(".png")) if args.stats else ()
        )
        outputs = [
            (args.json, _json_is_ours),
            (args.csv, _csv_is_ours(CSV_HEADER)),
            *zip(stats, (_csv_is_ours(STATS_HEADER), _png_is_ours), strict=False),
        ]
        for path, is_ours in outputs:
            if path is not None:
                _refuse_foreign(path, is_ours)
        options = dict(
            notebooks_dir=args.notebooks,
            cell_timeout=args.cell_timeout,
            total_timeout=args.total_timeout,
            hide=tuple(p.resolve().parent for p, _ in outputs if p is not None),
        )
        if args.hidden_seed is not None:
            options["hidden_seed"] = args.hidden_seed
        if args.submission.is_dir():
            if args.reference is not None:
                options["reference"] = args.reference
            reports = grade_folder(args.submission, jobs=args.jobs, **options)
            if not reports:
                raise NotebookError(f"no .ipynb files in {args.submission}")
        elif args.submission.is_file():
            reports = [grade_submission(args.submission, args.reference, **options)]
        else:
            raise NotebookError(f"{args.submission} does not exist")
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    for report in reports:
        print(report.table())
        print()
    if len(reports) > 1:
        graded = [r for r in reports if r.status == "graded"]
        print(
            f"{len(reports)} submissions: {len(graded)} graded, "
            f"{len(reports) - len(graded)} could not be graded"
        )
    if args.json is not None:
        data = [r.to_dict() for r in reports]
        args.json.write_text(
            json.dumps(data if len(data) > 1 else data[0], indent=2) + "\n", encoding="utf-8"
        )
    if args.csv is not None:
        args.csv.write_text(csv_text(reports), encoding="utf-8")
    if stats:
        rows = statistics(reports)
        print()
        print(statistics_table(rows))
        stats[0].write_text(statistics_csv(rows), encoding="utf-8")
        score_figure(reports, stats[1])
        print(f"statistics written to {stats[0]} and {stats[1]}")
    return max(r.exit_code for r in reports)


if __name__ == "__main__":
    sys.exit(main())
