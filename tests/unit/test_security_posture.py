"""checkov over the CloudFormation stacks: every check passes or is skipped beside its resource with a reason.

checkov runs from its own virtualenv (`make checkov` makes it in .tools/checkov: its dependencies clash with
ours); the first run here makes it too, with one pip install from PyPI, and later runs reuse it.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools"
CHECKOV = TOOLS / "checkov" / "bin" / "checkov"
RELIABILITY = REPO / "docs" / "reliability.md"

# The first run installs checkov (1.5-3 minutes on a busy machine); later runs scan in 10-25 s.
pytestmark = pytest.mark.timeout(900)


def install_checkov() -> None:
    """Make the tool's virtualenv through the Makefile target, once even when test processes ask at once."""
    if shutil.which("make") is None:
        pytest.skip("make is missing: run `make checkov` on a machine with make to create .tools/checkov")
    TOOLS.mkdir(exist_ok=True)
    with open(TOOLS / ".checkov-install-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = subprocess.run(
            ["make", "--no-print-directory", ".tools/checkov/.installed"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert made.returncode == 0, f"installing checkov failed:\n{made.stdout[-2000:]}{made.stderr[-2000:]}"


@pytest.fixture(scope="module")
def report() -> dict:
    """checkov's JSON report on deployment/ (the CloudFormation templates only; deploy.sh is tested elsewhere)."""
    install_checkov()
    scan = subprocess.run(
        [str(CHECKOV), "--directory", "deployment", "--framework", "cloudformation", "--skip-download", "-o", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert scan.returncode in (0, 1), scan.stderr[-2000:]  # 1: some check failed, reported below
    result = json.loads(scan.stdout)
    assert result["check_type"] == "cloudformation", result
    return result


def findings(report: dict, kind: str) -> list[dict]:
    return report["results"][kind]


def named(check: dict) -> str:
    return f"{check['check_id']} {check['file_path'].lstrip('/')} {check['resource']}: {check['check_name']}"


def test_every_template_is_scanned(report):
    checks = findings(report, "passed_checks") + findings(report, "skipped_checks")
    scanned = {check["file_path"].lstrip("/") for check in checks}
    templates = {path.name for path in (REPO / "deployment").glob("*.yaml")}
    assert report["summary"]["parsing_errors"] == 0
    assert scanned == templates


def test_no_check_fails(report):
    failed = [named(check) for check in findings(report, "failed_checks")]
    assert not failed, (
        "checkov finds these in deployment/: fix each, or skip it in the template beside the resource "
        "(Metadata: checkov: skip: - id: ..., comment: <the reason>) and add it to docs/reliability.md:\n"
        + "\n".join(failed)
    )


def test_every_skip_states_its_reason(report):
    skipped = findings(report, "skipped_checks")
    assert skipped, "no skips at all: the docs' table of skips would be stale"
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= 15, f"{named(check)}: say why it is skipped, not just that it is: {reason!r}"
        assert not re.search(r"\bnot (needed|necessary|required)\b", reason, re.IGNORECASE), named(check)


def test_the_docs_list_every_skip(report):
    """docs/reliability.md has a row `| CKV_AWS_xx | <template> | <resources> | ... |` naming each skipped resource."""
    rows = [line for line in RELIABILITY.read_text(encoding="utf-8").splitlines() if line.startswith("| CKV")]
    for check in findings(report, "skipped_checks"):
        resource = check["resource"].split(".")[-1]
        template = check["file_path"].lstrip("/")[:2]
        assert any(
            row.startswith(f"| {check['check_id']} |") and f"`{resource}`" in row and f"| {template} |" in row
            for row in rows
        ), f"docs/reliability.md lists no skip of {check['check_id']} for {resource} in stack {template}"


# --- What checkov cannot see: conditions and the values behind them ----------------------------------


def template(name: str) -> dict:
    return cfn_yaml.load(str(REPO / "deployment" / name))


def test_with_a_certificate_port_80_only_redirects_and_https_takes_tls_1_2_or_later():
    resources = template("04-ec2-alb-asg-stack.yaml")["Resources"]
    (action,) = resources["HttpListener"]["Properties"]["DefaultActions"]
    condition, with_certificate, without = action["Fn::If"]
    assert condition == "UseHttps"
    assert with_certificate["Type"] == "redirect" and "TargetGroupArn" not in with_certificate
    assert with_certificate["RedirectConfig"] == {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
    assert without["Type"] == "forward"
    https = resources["HttpsListener"]
    assert https["Condition"] == "UseHttps" and https["Properties"]["Protocol"] == "HTTPS"
    # ELB's policies that offer nothing older than TLS 1.2.
    assert re.fullmatch(r"ELBSecurityPolicy-(TLS13-1-[23]|TLS-1-2|FS-1-2)-[\w-]+", https["Properties"]["SslPolicy"])


def test_deleted_or_replaced_objects_stay_recoverable_for_7_days_then_expire():
    resources = template("02-application-stack.yaml")["Resources"]
    for name in ("ImageBucket", "ThumbnailBucket"):
        bucket = resources[name]["Properties"]
        assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}, name
        (rule,) = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" in r]
        assert rule["Status"] == "Enabled" and rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}, name
        assert rule["ExpiredObjectDeleteMarker"] is True and "Prefix" not in rule and "Filter" not in rule, name
