"""One benchmark's outcome: printed as a table and written as JSON to `benchmarks/results/<name>.json`."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import PIL
import pyvips
from PIL import features

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Report:
    """Measured cases (name -> metrics), ratios against the same run's reference, checks and notes."""

    name: str
    title: str
    params: dict[str, Any]
    results: dict[str, dict[str, float]] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def verdict(figure: float, target: float, unit: str = "") -> str:
    """A check's text for an upper-bound target: 'target: ≤ 1.2×: 1.05× — met'."""
    met = "met" if figure <= target else "missed"
    return f"target: ≤ {target:g}{unit}: {figure:.2f}{unit} — {met}"


def print_report(report: Report) -> None:
    """Print the cases as an aligned table, then ratios, checks and notes."""
    print(f"\n== {report.title} ==")
    print("   " + ", ".join(f"{key}={value}" for key, value in report.params.items()))
    columns = list(dict.fromkeys(key for metrics in report.results.values() for key in metrics))
    width = max(len(name) for name in report.results) + 2
    widths = [max(10, len(column)) + 2 for column in columns]
    print(f"{'case':<{width}}" + "".join(f"{column:>{w}}" for column, w in zip(columns, widths, strict=True)))
    for name, metrics in report.results.items():
        cells = "".join(_cell(metrics.get(column), w) for column, w in zip(columns, widths, strict=True))
        print(f"{name:<{width}}{cells}")
    for name, value in report.ratios.items():
        print(f"ratio  {name}: {value:.2f}")
    for name, verdict in report.checks.items():
        print(f"check  {name}: {verdict}")
    for note in report.notes:
        print(f"note   {note}")


def _cell(value: float | None, width: int) -> str:
    if value is None:
        return " " * width
    if isinstance(value, int):
        return f"{value:>{width}d}"
    return f"{value:>{width}.3f}" if value < 10 else f"{value:>{width}.1f}"


def write_report(report: Report, out_dir: Path, quick: bool) -> Path:
    """Write the report and the machine it ran on as `<out_dir>/<name>.json`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "name": report.name,
        "title": report.title,
        "quick": quick,
        "params": report.params,
        "results": report.results,
        "ratios": report.ratios,
        "checks": report.checks,
        "notes": report.notes,
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "environment": environment(),
    }
    path = out_dir / f"{report.name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def environment() -> dict[str, Any]:
    """Versions and load: results only compare within a run, but the context explains them."""
    return {
        "ran_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}, {_cpu_model()}",
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        "libwebp": features.version("webp"),
        "libvips": ".".join(str(pyvips.version(part)) for part in range(3)),
        "sqlite": sqlite3.sqlite_version,
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return models[0] if models else platform.processor() or "unknown CPU"
