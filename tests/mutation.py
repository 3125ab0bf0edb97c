"""Mutation testing, one module at a time: `python -m tests.mutation [PATH ...]` (what `make mutation` runs).

mutmut (configured in pyproject's [tool.mutmut]) copies the code to `mutants/`, records which tests reach each
function, then for every mutant runs only those tests (SQLite only, one process per mutant) until one fails.
Each module is tried against its own tests (below), not the whole suite: a surviving mutant of the job
lifecycle would otherwise rerun hundreds of web tests. Modules run one after another so a shared machine stays
usable; each module's verdicts are saved to `mutants/results/` as soon as it is done (mutmut forgets them when
the test selection changes), and the table is read from there. `mutmut show NAME` prints a mutant.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The shared core and the two job modules; the local worker and the sweeper entry point are not jobs.
DEFAULT_PACKAGES = ("annotation_core", "lambda_functions/annotation_lambda", "lambda_functions/thumbnail_lambda")
RESULTS = ROOT / "mutants" / "results"
TEST_FOLDERS = ("tests/unit", "tests/integration")
# Tests that exercise a module beyond the ones named after it (tests/*/test_<module>.py).
EXTRA_TESTS = {
    "annotation_core/account_admin.py": ["tests/integration/test_user_admin.py"],
    "annotation_core/accounts.py": [
        "tests/integration/test_access_matrix.py",
        "tests/integration/test_api_tokens.py",
        "tests/integration/test_auth_modes.py",
        "tests/integration/test_sign_in.py",
        "tests/integration/test_user_admin.py",
    ],
    "annotation_core/bootstrap.py": [
        "tests/integration/test_app_factory.py",
        "tests/integration/test_auth_modes.py",
        "tests/integration/test_aws_web_tier.py",
        "tests/integration/test_lifecycle.py",
        "tests/integration/test_local_worker.py",
        "tests/integration/test_secrets.py",
        "tests/integration/test_uploads.py",
    ],
    "annotation_core/caption_backfill.py": ["tests/integration/test_caption_edits.py"],
    "annotation_core/colour.py": ["tests/unit/test_renditions.py", "tests/unit/test_thumbnailer.py"],
    "annotation_core/lambda_entry.py": [
        "tests/integration/test_lambda_handlers.py",
        "tests/integration/test_event_delivery.py",
    ],
    "annotation_core/passwords.py": ["tests/integration/test_sign_in.py", "tests/integration/test_user_admin.py"],
    "annotation_core/rate_limits.py": ["tests/integration/test_sign_in.py"],
    "annotation_core/search.py": [
        "tests/integration/test_repository.py",
        "tests/integration/test_web_api.py",
        "tests/integration/test_caption_edits.py",
    ],
    # The table definitions are checked against the migrations (test_database) and database/schema.sql.
    "annotation_core/schema.py": [
        "tests/integration/test_database.py",
        "tests/unit/test_project_files.py::test_committed_schema_sql_is_generated_from_the_table",
    ],
    "annotation_core/storage.py": ["tests/integration/test_downloads.py"],
    "annotation_core/sweeper.py": [
        "tests/integration/test_lambda_handlers.py",
        "tests/integration/test_local_worker.py",
        "tests/integration/test_trash.py",
    ],
    "annotation_core/vips_decoding.py": [
        "tests/unit/test_renditions.py",
        "tests/unit/test_image_inspection.py",
        "tests/unit/test_thumbnailer.py",
    ],
    "lambda_functions/annotation_lambda/caption_rendition.py": ["tests/integration/test_captioning.py"],
    "lambda_functions/annotation_lambda/providers.py": [
        "tests/integration/test_captioning.py",
        "tests/integration/test_caption_providers.py",
    ],
    "lambda_functions/thumbnail_lambda/thumbnailer.py": ["tests/unit/test_renditions.py"],
    "lambda_functions/thumbnail_lambda/placeholder.py": [
        "tests/unit/test_renditions.py",
        "tests/unit/test_thumbnailer.py",
    ],
    # with tests/integration/test_image_actions.py; the web routes' own tests would rerun the whole web app per mutant
    "annotation_core/image_actions.py": [
        "tests/integration/test_aws_web_tier.py",
        "tests/integration/test_event_delivery.py",
        "tests/integration/test_local_worker.py",
    ],
    "annotation_core/lifecycle.py": ["tests/integration/test_lambda_handlers.py"],
    "annotation_core/events.py": ["tests/unit/test_event_fuzz.py", "tests/integration/test_lambda_handlers.py"],
    "annotation_core/job_store.py": ["tests/integration/test_repository.py", "tests/integration/test_lifecycle.py"],
    "annotation_core/repository.py": ["tests/integration/test_sort_by_taken.py", "tests/integration/test_trash.py"],
    "annotation_core/uploads.py": ["tests/unit/test_image_inspection.py", "tests/integration/test_pipeline.py"],
}
# Modules whose code partly runs at import (schema.py builds the tables). mutmut switches a mutant on only after
# the tests are imported, so such mutants always survive its run; each survivor is tried again in a pytest
# process started with it switched on (MUTANT_UNDER_TEST, which mutmut's trampolines read).
IMPORT_TIME_MODULES = {"annotation_core/schema.py"}
MUTMUT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
# pyproject's selection: every unit and integration test but those of the project's files.
SELECTION = MUTMUT["pytest_add_cli_args_test_selection"]
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


def tests_for(module: str) -> list[str]:
    """The module's own tests: those named after it plus EXTRA_TESTS, else every test file that imports it."""
    stem = Path(module).stem
    named = [f"{folder}/test_{stem}.py" for folder in TEST_FOLDERS if (ROOT / folder / f"test_{stem}.py").exists()]
    chosen = named + EXTRA_TESTS.get(module, [])
    if chosen:
        return chosen
    package, _, name = module.removesuffix(".py").replace("/", ".").rpartition(".")
    # `package.name` anywhere, or `from package import (…, name, …)` on one line or in parentheses.
    imports = re.compile(
        rf"\b{re.escape(package)}\.{name}\b|from {re.escape(package)} import (\([^)]*\b{name}\b|[^\n(]*\b{name}\b)"
    )
    importers = [
        str(path.relative_to(ROOT))
        for folder in TEST_FOLDERS
        for path in sorted((ROOT / folder).glob("test_*.py"))
        if f"--ignore={path.relative_to(ROOT)}" not in SELECTION and imports.search(path.read_text(encoding="utf-8"))
    ]
    return importers or SELECTION


def run_module(module: str, tests: list[str], max_children: int, names: list[str]) -> None:
    """`mutmut run` for one module's mutants (or just `names`) against `tests`, in this process: the test
    selection is set in code. Verdicts are merged into the module's saved ones."""
    import mutmut.configuration as configuration

    # mutmut reads its test selection from pyproject only; narrow it for this module before mutmut starts.
    configuration._config = dataclasses.replace(configuration.config(), pytest_add_cli_args_test_selection=tests)
    from mutmut.__main__ import cli

    try:
        cli(["run", "--max-children", str(max_children), *(names or [mutant_pattern(module)])], standalone_mode=False)
    finally:
        meta = ROOT / "mutants" / f"{module}.meta"
        if meta.exists():
            saved = RESULTS / f"{module}.json"
            codes = json.loads(saved.read_text())["exit_code_by_key"] if saved.exists() else {}
            fresh = json.loads(meta.read_text())["exit_code_by_key"]
            codes.update({name: code for name, code in fresh.items() if code is not None})
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps({"exit_code_by_key": codes}, indent=1, ensure_ascii=False))


def retry_in_fresh_processes(module: str) -> None:
    """Each survivor of `module` run again in its own pytest process (in mutmut's `mutants/` copy) with the mutant
    switched on from the start, so code that runs at import is mutated too; verdicts merged into the saved ones."""
    saved = RESULTS / f"{module}.json"
    codes = json.loads(saved.read_text())["exit_code_by_key"]
    for name in tally(module)["survivors"]:
        command = [sys.executable, "-m", "pytest", *MUTMUT["pytest_add_cli_args"], "-x", "-p", "no:randomly"]
        answer = subprocess.run(
            [*command, *tests_for(module)],
            cwd=ROOT / "mutants",
            env={**os.environ, "MUTANT_UNDER_TEST": name},
            capture_output=True,
        )
        codes[name] = {0: 0, 5: 5}.get(answer.returncode, 1)  # any failure, collection errors too, is a kill
        print(f"{name}: {'survived' if codes[name] == 0 else 'killed'} in a fresh process", flush=True)
    saved.write_text(json.dumps({"exit_code_by_key": codes}, indent=1, ensure_ascii=False))


def tally(module: str) -> dict[str, object]:
    """Counts for one module from its saved verdicts, with the names of the mutants that survived."""
    saved, meta = RESULTS / f"{module}.json", ROOT / "mutants" / f"{module}.meta"
    codes = json.loads(saved.read_text())["exit_code_by_key"] if saved.exists() else {}
    pattern = mutant_pattern(module).removesuffix("*")
    current = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else codes  # today's mutants
    codes = {name: code for name, code in codes.items() if name.startswith(pattern) and name in current}
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


def print_markdown(rows: list[dict[str, object]]) -> None:
    """The table for docs/reliability.md, then each surviving mutant's changed lines (from `mutmut show`)."""
    print("| module | mutants | killed | survived | killed % |\n| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        percent = "-" if row["percent"] is None else f"{row['percent']:.1f}"
        print(f"| `{row['module']}` | {row['total']} | {row['killed']} | {row['survived']} | {percent} |")
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    for row in rows:
        for name in row["survivors"]:
            shown = subprocess.run([mutmut, "show", name], cwd=ROOT, capture_output=True, text=True).stdout
            changed = [line for line in shown.splitlines() if line[:1] in "-+" and line[:3] not in ("---", "+++")]
            print(f"\n- `{name}`\n\n  ```diff\n" + "\n".join(f"  {line}" for line in changed) + "\n  ```")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="files to mutate (default: the core and both job modules)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--report-only", action="store_true", help="print the table from the last runs")
    parser.add_argument("--fail-under", type=float, default=0.0, help="exit 1 if a module kills fewer (percent)")
    parser.add_argument("--markdown", action="store_true", help="Markdown, with survivors' changes")
    parser.add_argument("--survivors", action="store_true", help="try again only the mutants that survived last time")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child run for one module
    args = parser.parse_args(argv)
    modules = args.modules or default_modules()
    if args.one:
        names = tally(modules[0])["survivors"] if args.survivors else []
        if args.survivors and not names:
            return 0
        run_module(modules[0], tests_for(modules[0]), args.max_children, names)
        return 0
    for module in [] if args.report_only else modules:
        print(f"== {module}: against {' '.join(tests_for(module))}", flush=True)
        child = [sys.executable, "-m", "tests.mutation", "--one", "--max-children", str(args.max_children), module]
        child += ["--survivors"] if args.survivors else []
        subprocess.run(child, cwd=ROOT, check=False)
        if module in IMPORT_TIME_MODULES and (RESULTS / f"{module}.json").exists():
            retry_in_fresh_processes(module)
    rows = [tally(module) for module in modules]
    if args.markdown:
        print_markdown(rows)
        return 0
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
