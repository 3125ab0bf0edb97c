"""Mutation testing, one module at a time: `python -m tests.mutation [PATH ...]` (what `make mutation` runs).

mutmut (configured in pyproject's [tool.mutmut]) copies the code to `mutants/`, records which tests reach each
function, then for every mutant of the module runs only those tests (unit and integration, SQLite only, one
process per mutant) until one fails. Modules run one after another so a shared machine stays usable; the
results stay in `mutants/` (`mutmut show NAME` prints a mutant) and the table below is read from them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The shared core and the two job modules; the local worker and the sweeper entry point are not jobs.
DEFAULT_PACKAGES = ("annotation_core", "lambda_functions/annotation_lambda", "lambda_functions/thumbnail_lambda")
CAUGHT = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests"}


def default_modules() -> list[str]:
    return [
        str(path.relative_to(ROOT))
        for package in DEFAULT_PACKAGES
        for path in sorted((ROOT / package).glob("*.py"))
        if path.name != "__init__.py"
    ]


def mutant_pattern(module: str) -> str:
    """mutmut names a mutant `package.module.function__mutmut_N`; this matches every mutant of `module`."""
    return module.removesuffix(".py").replace("/", ".") + ".*"


def tally(module: str) -> dict[str, object]:
    """Counts for one module from mutmut's results file, with the names of the mutants that survived."""
    meta = ROOT / "mutants" / f"{module}.meta"
    codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    caught = sum(1 for code in codes.values() if code in CAUGHT)
    survivors = sorted(name for name, code in codes.items() if code in SURVIVED)
    tried = caught + len(survivors)
    return {
        "module": module,
        "total": len(codes),
        "killed": caught,
        "survived": len(survivors),
        "not run": len(codes) - tried,
        "percent": round(100 * caught / tried, 1) if tried else None,
        "survivors": survivors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="files to mutate (default: the core and both job modules)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--report-only", action="store_true", help="print the table from the last runs")
    parser.add_argument("--fail-under", type=float, default=0.0, help="exit 1 if a module kills fewer (percent)")
    args = parser.parse_args(argv)
    modules = args.modules or default_modules()
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    for module in [] if args.report_only else modules:
        print(f"== {module}", flush=True)
        subprocess.run([mutmut, "run", "--max-children", str(args.max_children), mutant_pattern(module)], cwd=ROOT)
    rows = [tally(module) for module in modules]
    print(f"\n{'module':<50} {'total':>6} {'killed':>7} {'survived':>9} {'not run':>8} {'killed %':>9}")
    for row in rows:
        percent = "-" if row["percent"] is None else f"{row['percent']:.1f}"
        print(
            f"{row['module']:<50} {row['total']:>6} {row['killed']:>7} {row['survived']:>9} "
            f"{row['not run']:>8} {percent:>9}"
        )
    for row in rows:
        for name in row["survivors"]:
            print(f"survived: {name}")
    low = [row["module"] for row in rows if row["percent"] is not None and row["percent"] < args.fail_under]
    if low:
        print(f"below {args.fail_under:g} %: {', '.join(low)}")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
