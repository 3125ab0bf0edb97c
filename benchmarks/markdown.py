"""`python -m benchmarks.markdown [--results DIR] [--out FILE]`: render every `<name>.json` the benchmarks wrote
into one Markdown page (docs/benchmarks.md): the machine, every target with its figure, then one section per
benchmark in BENCHMARKS order (any other result after them), each with its command, params, results, ratios,
checks and notes. It knows no benchmark by name, so a new one appears without changes here."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.report import RESULTS_DIR

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
MACHINE_KEYS = ("ran_at", "machine", "cpus", "memory_gib", "load_average")


def load(results_dir: Path, order: tuple[str, ...]) -> list[dict[str, Any]]:
    """The results present, known benchmarks first in their order, then any others by name."""
    found = {path.stem: json.loads(path.read_text()) for path in sorted(results_dir.glob("*.json"))}
    names = [name for name in order if name in found] + sorted(set(found) - set(order))
    return [found[name] for name in names]


def render(results: list[dict[str, Any]]) -> str:
    """The whole page."""
    lines = [
        "# Benchmarks",
        "",
        "Generated from `benchmarks/results/*.json` by `python -m benchmarks` (or `python -m benchmarks.markdown`"
        " after a partial run); do not edit by hand. Every figure that matters is a ratio against a reference"
        " measured in the same run, so it holds on a busy machine; absolute times vary with the load.",
        "",
    ]
    if not results:
        return "\n".join([*lines, "No results yet: run `make bench`.", ""])
    lines += _machine(results)
    lines += _targets(results)
    for result in results:
        lines += _section(result)
    return "\n".join(lines)


def _machine(results: list[dict[str, Any]]) -> list[str]:
    """The machine and versions once (from the first result); each section says when it ran."""
    environment = results[0].get("environment", {})
    lines = ["## Machine and versions", "", "| | |", "| --- | --- |"]
    lines += [f"| {key} | {_value(value)} |" for key, value in environment.items() if key != "ran_at"]
    return [*lines, ""]


def _targets(results: list[dict[str, Any]]) -> list[str]:
    """Every check of every benchmark in one table: what was aimed at and what was measured."""
    lines = ["## Targets", "", "| benchmark | target | figure |", "| --- | --- | --- |"]
    for result in results:
        for check, verdict in result.get("checks", {}).items():
            lines.append(f"| `{result['name']}` | {_escape(check)} | {_escape(verdict)} |")
    return [*lines, ""]


def _section(result: dict[str, Any]) -> list[str]:
    environment = result.get("environment", {})
    lines = [f"## {result.get('title') or result['name']} (`{result['name']}`)", ""]
    ran = environment.get("ran_at", "unknown time")
    quick = " (quick: a smoke run, not figures)" if result.get("quick") else ""
    lines += [f"Command: `{result.get('command', 'python -m benchmarks')}`, ran {ran}{quick}.", ""]
    if result.get("params"):
        lines += ["Parameters: " + ", ".join(f"{key} = {_value(value)}" for key, value in result["params"].items()), ""]
    lines += _results_table(result.get("results", {}))
    if result.get("ratios"):
        lines += ["| ratio | value |", "| --- | --- |"]
        lines += [f"| {_escape(name)} | {value:.2f} |" for name, value in result["ratios"].items()]
        lines.append("")
    if result.get("checks"):
        lines += [f"- **{_escape(name)}** — {_escape(verdict)}" for name, verdict in result["checks"].items()]
        lines.append("")
    lines += [f"> {_escape(note)}" + "\n" for note in result.get("notes", [])]
    return lines


def _results_table(results: dict[str, dict[str, float]]) -> list[str]:
    if not results:
        return []
    columns = list(dict.fromkeys(key for metrics in results.values() for key in metrics))
    lines = ["| case | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for case, metrics in results.items():
        cells = " | ".join(_value(metrics.get(column, "")) for column in columns)
        lines.append(f"| {_escape(case)} | {cells} |")
    return [*lines, ""]


def _value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _escape(", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value))
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write(results_dir: Path, out: Path, order: tuple[str, ...]) -> Path:
    """Render the results in `results_dir` into `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(load(results_dir, order)))
    return out


def main(argv: list[str] | None = None) -> None:
    from benchmarks.__main__ import BENCHMARKS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.markdown", description=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help=f"folder of <name>.json ({RESULTS_DIR})")
    parser.add_argument("--out", type=Path, default=DOCS, help=f"the page to write (default {DOCS})")
    args = parser.parse_args(argv)
    print(f"written to {write(args.results, args.out, BENCHMARKS)}")


if __name__ == "__main__":
    main()
