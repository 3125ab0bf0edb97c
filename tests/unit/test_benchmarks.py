"""`python -m benchmarks --quick` runs and writes well-formed results and a well-formed Markdown page (no timing
thresholds here: the figures are for docs/benchmarks.md, not for CI)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import BENCHMARKS
from benchmarks.markdown import render

ROOT = Path(__file__).resolve().parents[2]
# The quick run (with MariaDB when TEST_MYSQL_URL is set) outlasts the suite's 120 s on a loaded machine.
pytestmark = pytest.mark.timeout(330)
NAMES = BENCHMARKS  # every one: a benchmark no test runs breaks unnoticed (caption_rendition did)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """Run the quick benchmarks once, in a subprocess as `make bench-quick` would; their folder."""
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, "-m", "benchmarks", "--quick", *(f"--only={name}" for name in NAMES)]
    done = subprocess.run([*command, "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("== ") == len(NAMES)
    return out


@pytest.fixture(scope="module")
def results(run_dir) -> dict[str, dict]:
    return {name: json.loads((run_dir / f"{name}.json").read_text()) for name in NAMES}


@pytest.fixture(scope="module")
def page(run_dir) -> str:
    return (run_dir / "benchmarks.md").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_results_are_complete_and_positive(results, name):
    result = results[name]
    assert result["name"] == name
    assert result["quick"] is True
    assert result["command"].startswith("python -m benchmarks --quick")
    assert {"title", "params", "results", "ratios", "checks", "notes", "environment"} <= result.keys()
    assert {"machine", "python", "pillow", "libvips"} <= result["environment"].keys()
    assert result["results"] and result["ratios"]
    for case, metrics in result["results"].items():
        assert metrics["n"] >= 1, case
        # a validation that holds no pixels may grow the peak by 0 MiB; nothing is negative or missing
        assert all(value >= 0 for value in metrics.values()) and any(value > 0 for value in metrics.values())
    # a memory ratio may be 0 (nothing grew, the warm-up having paid for the allocator); times never are
    assert all(value > 0 or name.startswith("memory") and value == 0 for name, value in result["ratios"].items())


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


def test_libvips_compares_every_format_group_at_grid_and_preview_sizes(results):
    report = results["libvips"]
    groups = ("baseline JPEG", "progressive JPEG", "PNG", "WebP", "16-bit PNG", "alpha WebP", "animated GIF")
    for group in (*groups, "whole corpus"):
        for label in ("256", "512", "1440", "job"):
            assert f"{group} {label} ours/libvips" in report["ratios"], (group, label)
    assert "baseline JPEG 256 ours / 1/8 decode floor" in report["ratios"]
    heic = next(metrics for case, metrics in report["results"].items() if case.startswith("HEIC:"))
    assert heic["ours job ms"] > 0 and "libvips job ms" not in heic  # libvips cannot read HEVC
    webp_memory = next(metrics for case, metrics in report["results"].items() if case.startswith("memory:"))
    assert webp_memory["ours_peak_mib"] > 0 and webp_memory["libvips_peak_mib"] > 0
    for check in ("WebP ≤ 1.2× libvips at every size", "PNG ≤ 1.15× libvips at every size"):
        assert re.fullmatch(r"target: ≤ [\d.]+×: [\d.]+× — (met|missed)", report["checks"][check])


def test_upload_memory_reports_every_accepted_format_against_a_full_canvas(results):
    report = results["upload_memory"]
    for fmt in ("JPEG", "PNG", "WebP", "GIF", "HEIC", "AVIF"):
        row = next(metrics for case, metrics in report["results"].items() if case.split(" (")[0] == fmt)
        assert row["peak_growth_mib"] >= 0 and row["file_kib"] >= 0
        assert re.fullmatch(
            r"target: ≤ 64 MiB: [\d.]+ MiB — (met|missed)", report["checks"][f"{fmt} validation ≤ 64 MiB"]
        )


def test_the_page_has_the_machine_every_target_and_a_section_per_benchmark_in_order(results, page):
    headings = re.findall(r"^## (.+)$", page, flags=re.MULTILINE)
    assert headings[:2] == ["Machine and versions", "Targets"]
    assert [re.search(r"\(`(\w+)`\)$", heading).group(1) for heading in headings[2:]] == [
        name for name in BENCHMARKS if name in NAMES
    ]
    targets = page.split("## Targets")[1].split("\n## ")[0]
    for name in NAMES:
        for check, verdict in results[name]["checks"].items():
            assert f"| `{name}` | {check} | {verdict} |" in targets
    assert "| libvips | " in page and "Command: `python -m benchmarks --quick" in page


def test_every_results_table_has_one_row_per_case_and_a_cell_per_column(results, page):
    for name in NAMES:
        section = page.split(f"(`{name}`)")[1].split("\n## ")[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ratio")]
        header = rows[0]
        cases = rows[2 : 2 + len(results[name]["results"])]  # after the header and the separator
        assert [row.split(" | ")[0][2:] for row in cases] == [
            case.replace("|", "\\|") for case in results[name]["results"]
        ]
        assert all(row.count(" | ") == header.count(" | ") for row in cases)


def test_a_new_benchmark_gets_its_own_section_after_the_known_ones_without_changes_to_the_renderer():
    known = {"name": "thumbnail", "title": "Known", "results": {"a": {"n": 1}}, "checks": {}, "notes": []}
    new = {
        "name": "million_rows",
        "title": "A million rows",
        "params": {"rows": 1000000},
        "results": {"first page": {"n": 5, "p95_ms": 1.25}},
        "ratios": {"page / ref": 0.5},
        "checks": {"page ≤ 5 ms": "target: ≤ 5 ms: 1.25 ms — met"},
        "notes": ["a note"],
    }
    page = render([known, new])
    assert page.index("(`thumbnail`)") < page.index("## A million rows (`million_rows`)")
    assert "| `million_rows` | page ≤ 5 ms | target: ≤ 5 ms: 1.25 ms — met |" in page
    assert "| first page | 5 | 1.250 |" in page and "| page / ref | 0.50 |" in page and "> a note" in page
