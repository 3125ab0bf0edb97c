"""`python -m benchmarks --quick` runs and writes well-formed results (no timing thresholds here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The quick run (with MariaDB when TEST_MYSQL_URL is set) outlasts the suite's 120 s on a loaded machine.
pytestmark = pytest.mark.timeout(330)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    """Run the quick thumbnail, renditions and gallery benchmarks once, in a subprocess as `make bench` would."""
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, "-m", "benchmarks", "--quick", *(f"--only={name}" for name in NAMES)]
    done = subprocess.run([*command, "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("== ") == len(NAMES)
    return {name: json.loads((out / f"{name}.json").read_text()) for name in NAMES}


NAMES = ("thumbnail", "renditions", "gallery")


@pytest.mark.parametrize("name", NAMES)
def test_results_are_complete_and_positive(results, name):
    result = results[name]
    assert result["name"] == name
    assert result["quick"] is True
    assert {"params", "results", "ratios", "checks", "notes", "environment"} <= result.keys()
    assert result["results"] and result["ratios"]
    for case, metrics in result["results"].items():
        assert metrics["n"] >= 1, case
        assert all(value > 0 for value in metrics.values()), (case, metrics)
    assert all(value > 0 for value in result["ratios"].values()), result["ratios"]


def test_thumbnail_reports_time_and_memory_against_references(results):
    ratios = results["thumbnail"]["ratios"]
    assert {"jpeg128 one_thumbnail / reduced decode", "memory one_thumbnail / full decode"} <= ratios.keys()
    assert results["thumbnail"]["results"]["memory.one_thumbnail"]["peak_growth_mib"] > 0


def test_renditions_report_time_against_one_thumbnail_grid_bytes_and_heic_memory(results):
    report = results["renditions"]
    assert {"renditions webp / one 256 px thumbnail", "memory renditions / full decode (HEIC)"} <= report[
        "ratios"
    ].keys()
    assert report["results"]["grid bytes per image"]["webp"] > 0
    assert report["results"]["memory.renditions of the HEIC"]["peak_growth_mib"] > 0
    assert any(check.startswith("all renditions (webp) within 1.5x") for check in report["checks"])


def test_gallery_reports_the_query_plans_and_a_check_per_target(results):
    report = results["gallery"]
    assert any(note.startswith("plan sqlite GET /gallery?q=") for note in report["notes"])
    assert "sqlite: bare driver: newest page SQL (ref)" in report["results"]
    assert any(check.startswith("sqlite search p95 <= 10 ms") for check in report["checks"])
    assert report["params"]["sqlite_trashed_rows"] > 0, "listings must be measured with images in the trash"
