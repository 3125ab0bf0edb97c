"""`python -m benchmarks [--quick] [--only NAME ...] [--out DIR] [--markdown FILE]`: run, print and save the
benchmarks, then render every result in DIR into one Markdown page."""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from benchmarks import markdown
from benchmarks.report import RESULTS_DIR, print_report, write_report

BENCHMARKS = (
    "thumbnail",
    "renditions",
    "libvips",
    "upload_memory",
    "caption_rendition",
    "pipeline",
    "ingest",
    "cold_start",
    "gallery",
    "rate_limited",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds: a smoke run")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help=f"folder for <name>.json (default {RESULTS_DIR})")
    parser.add_argument(
        "--markdown",
        type=Path,
        help=f"the page to write (default {markdown.DOCS.name} in docs/, or in --out for a --quick run)",
    )
    args = parser.parse_args(argv)
    for name in args.only or BENCHMARKS:
        started = time.perf_counter()
        report = importlib.import_module(f"benchmarks.{name}").run(args.quick)
        print_report(report)
        path = write_report(report, args.out, args.quick)
        print(f"({name}: {time.perf_counter() - started:.1f} s, written to {path})")
    page = args.markdown or (args.out / "benchmarks.md" if args.quick else markdown.DOCS)
    print(f"(all results in {args.out} rendered into {markdown.write(args.out, page, BENCHMARKS)})")


if __name__ == "__main__":
    main()
