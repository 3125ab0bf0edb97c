"""`cold_start`: what importing each Lambda handler costs (`python -X importtime`), its heaviest imports, and
whether a heavy module it does not need at import is loaded; against importing SQLAlchemy alone (every handler
needs it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks.report import Report
from benchmarks.timing import Stats, ratio

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = {
    "annotation_lambda": "lambda_functions.annotation_lambda.lambda_function",
    "thumbnail_lambda": "lambda_functions.thumbnail_lambda.lambda_function",
}
REFERENCE = "sqlalchemy"
# Loaded on first use only (tests/integration/test_cold_start_imports.py keeps them out of the handlers' imports).
LAZY = ("magic", "boto3", "botocore.session", "google.genai", "openai", "flask", "alembic", "pillow_heif")
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_times(module: str) -> tuple[dict[str, int], set[str]]:
    """Cumulative microseconds per module imported by `import module` in a fresh interpreter, and sys.modules."""
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    cumulative = {}
    for line in done.stderr.splitlines():
        if match := _LINE.match(line):
            cumulative[match.group(4)] = int(match.group(2))
    return cumulative, set(done.stdout.split())


def run(quick: bool) -> Report:
    rounds = 3 if quick else 9
    modules = {REFERENCE: REFERENCE, **HANDLERS}
    samples: dict[str, list[float]] = {name: [] for name in modules}
    last: dict[str, tuple[dict[str, int], set[str]]] = {}
    for _ in range(rounds):  # interleaved, so background load hits all alike
        for name, module in modules.items():
            last[name] = import_times(module)
            samples[name].append(last[name][0][module] / 1000)
    stats = {name: Stats(tuple(values)) for name, values in samples.items()}
    report = Report("cold_start", "Lambda handler import time (python -X importtime) vs importing SQLAlchemy", {})
    report.params = {"rounds": rounds, "python": sys.version.split()[0]}
    report.results = {f"import {modules[name]}": stats[name].as_dict() for name in modules}
    for name, module in HANDLERS.items():
        report.ratios[f"{name} import / sqlalchemy import"] = ratio(stats[name], stats[REFERENCE])
        cumulative, loaded = last[name]
        top = sorted(((us, mod) for mod, us in cumulative.items() if mod != module), reverse=True)
        tops = _top_level(top)[:8]
        report.notes.append(
            f"{name} heaviest imports (cumulative ms): " + ", ".join(f"{m} {us / 1000:.0f}" for us, m in tops)
        )
        eager = sorted(name for name in LAZY if name in loaded)
        report.checks[f"{name} loads none of {', '.join(LAZY)} at import"] = "met" if not eager else f"MISSED ({eager})"
        report.results[f"import {module}"]["modules"] = len(loaded)
    return report


def _top_level(ordered: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The heaviest imports, leaving out a module when a heavier one already listed is its package."""
    chosen: list[tuple[int, str]] = []
    for us, module in ordered:
        if not any(module.startswith(f"{parent}.") or parent.startswith(f"{module}.") for _, parent in chosen):
            chosen.append((us, module))
    return chosen
