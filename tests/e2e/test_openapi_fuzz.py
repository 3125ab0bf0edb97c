"""The whole HTTP API fuzzed from its own `/api/openapi.json` by schemathesis, as an admin's API client would
call it, against the app on a real server on 127.0.0.1: no 5xx, and every answer as the document describes it
(status codes, content types, headers, bodies).

Left out: schemathesis's two checks of how strictly requests are validated (positive_data_acceptance,
negative_data_rejection). The document describes requests loosely in places (an id list's count, a cursor's
format, a long search text the app shortens); those are refused or accepted with a clear answer, never a 5xx.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests import images
from tests.e2e.conftest import live_settings, serving
from tests.web_client import seed

SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]
EXAMPLES_PER_OPERATION = 10
TOKEN_PATH = "/api/tokens/{token_id}"  # fuzzed last and apart: a DELETE there revokes the fuzzer's own token


def schemathesis(url: str, token: str, *selection: str) -> subprocess.CompletedProcess:
    command = [
        *SCHEMATHESIS,
        "run",
        f"{url}/api/openapi.json",
        f"--header=Authorization: Bearer {token}",
        "--checks=all",
        "--exclude-checks=positive_data_acceptance,negative_data_rejection",
        f"--max-examples={EXAMPLES_PER_OPERATION}",
        "--phases=examples,coverage,fuzzing",
        "--generation-deterministic",
        "--max-redirects=0",
        "--workers=2",
        "--request-timeout=20",
        "--no-color",
        *selection,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def cases(run: subprocess.CompletedProcess) -> int:
    """The number of test cases a run generated, from its summary line ("699 generated, 699 passed")."""
    if run.returncode != 0:  # the report's sections (errors, failures, summary), without the progress lines
        sections = re.search(r"\n=+ (ERRORS|FAILURES|WARNINGS|SUMMARY) =+\n.*", run.stdout, re.S)
        raise AssertionError((sections.group(0) if sections else run.stdout)[-12000:] + run.stderr[-2000:])
    return int(re.search(r"(\d+) generated", run.stdout).group(1))


def test_every_operation_keeps_to_the_openapi_document(tmp_path):
    settings = live_settings(tmp_path / "data", uploads_per_hour=100_000)
    with serving(settings, None) as server:
        services = server.services
        admin = services.users.get_by_name("admin").id
        for colour in ("red", "green", "blue"):  # ids 1 to 3 exist, so some cases meet real images
            seed(server.worker, f"{colour}.jpg", images.jpeg(color=colour), uploaded_by=admin)
        token = services.tokens.create(admin, "schemathesis").secret
        everything_else = cases(schemathesis(server.url, token, f"--exclude-path={TOKEN_PATH}"))
        tokens = cases(schemathesis(server.url, token, f"--include-path={TOKEN_PATH}"))
    print(f"schemathesis: {everything_else + tokens} cases, none failed")  # the figure in docs/reliability.md
    assert everything_else >= 300 and tokens >= 5, "every operation was fuzzed"
