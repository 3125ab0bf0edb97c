"""`make loadtest` in small: the app as `make run` serves it takes concurrent uploads through API tokens and
keeps and processes every one it accepted, on SQLite and on MySQL (the long run is `make loadtest`)."""

from __future__ import annotations

import pytest

from benchmarks.load_photos import make_originals, plan
from benchmarks.loadtest import run_one
from conftest import MYSQL_URL


@pytest.fixture(scope="module")
def uploads():
    return plan(make_originals(quick=True), 24)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def test_concurrent_uploads_are_all_kept_and_processed_with_no_5xx(database, uploads, request):
    if database == "mysql":
        request.getfixturevalue("mysql_engine")  # skips (or fails in CI) without TEST_MYSQL_URL

    report, passed = run_one(database, uploads, clients=8, mysql_url=MYSQL_URL)

    figures = report.results["uploads"]
    assert passed, report.notes
    assert figures["sent"] == figures["accepted"] == 24
    assert (figures["lost"], figures["5xx"], figures["failed_requests"]) == (0, 0, 0)
    assert report.results["provider"]["calls"] >= 24  # every caption asked the fake Gemini
    assert {"web 1", "job worker"} <= {name.removeprefix("RSS MiB ") for name in report.results if "RSS" in name}
