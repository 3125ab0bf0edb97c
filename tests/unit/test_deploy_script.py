"""deploy.sh --dry-run prints every AWS and Docker command, in order, with digest-pinned images.

`aws` and `docker` are replaced by stubs that record any call: a dry run must make none.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deployment" / "deploy.sh"
EXAMPLE = REPO / "deployment" / "config.example.env"
STACK_ORDER = [
    ("image-annotation-ecr", "deployment/00-ecr-repositories.yaml"),
    ("image-annotation-network", "deployment/01-vpc-network.yaml"),
    ("image-annotation-app", "deployment/02-application-stack.yaml"),
    ("image-annotation-lambda", "deployment/03-lambda-stack.yaml"),
    ("image-annotation-web", "deployment/04-ec2-alb-asg-stack.yaml"),
]
DOCKERFILES = {
    "web-app": "web_app/Dockerfile",
    "annotation-lambda": "lambda_functions/annotation_lambda/Dockerfile",
    "thumbnail-lambda": "lambda_functions/thumbnail_lambda/Dockerfile",
}
DIGEST_PINNED = r"\d{{12}}\.dkr\.ecr\.us-east-1\.amazonaws\.com/image-annotation-{name}@sha256:DRYRUN[0-9a-f]{{58}}"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="deploy.sh needs bash")


@pytest.fixture(scope="module")
def stubs(tmp_path_factory) -> tuple[Path, Path]:
    """A folder of `aws` and `docker` stubs that log their arguments and fail."""
    folder = tmp_path_factory.mktemp("stubs")
    log = folder / "calls.log"
    for tool in ("aws", "docker"):
        stub = folder / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexit 97\n')
        stub.chmod(0o755)
    return folder, log


def run_script(stubs, *args: str, config: Path) -> subprocess.CompletedProcess[str]:
    folder, _ = stubs
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["bash", str(SCRIPT), "--config", str(config), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def commands(output: str) -> list[list[str]]:
    """The printed commands (`+ ...` lines), split as a shell would split them."""
    return [shlex.split(line[2:]) for line in output.splitlines() if line.startswith("+ ")]


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def overrides(command: list[str]) -> dict[str, str]:
    start = command.index("--parameter-overrides") + 1
    return dict(pair.split("=", 1) for pair in command[start:])


def config_with(tmp_path: Path, **settings: str) -> Path:
    text = EXAMPLE.read_text()
    for key, value in settings.items():
        text, count = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.MULTILINE)
        if not count:
            text += f"{key}={value}\n"
    path = tmp_path / "config.env"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def dry_run(stubs, tmp_path_factory) -> subprocess.CompletedProcess[str]:
    config = config_with(tmp_path_factory.mktemp("config"), IMAGE_TAG="test-tag")
    return run_script(stubs, "--dry-run", config=config)


def deploys(result) -> list[list[str]]:
    return [c for c in commands(result.stdout) if c[:3] == ["aws", "cloudformation", "deploy"]]


# --- Deploy ---------------------------------------------------------------------------------------------


def test_dry_run_succeeds_without_calling_aws_or_docker(dry_run, stubs):
    assert dry_run.returncode == 0, dry_run.stderr
    _, log = stubs
    assert not log.exists(), f"a dry run ran: {log.read_text()}"


def test_dry_run_deploys_the_five_stacks_in_order_and_prints_the_url(dry_run):
    assert [(option(c, "--stack-name"), option(c, "--template-file")) for c in deploys(dry_run)] == STACK_ORDER
    assert "--no-fail-on-empty-changeset" in deploys(dry_run)[0]
    assert re.search(r"^Web app: http://\S+$", dry_run.stdout, re.MULTILINE)


def test_images_are_built_from_the_repository_root_pushed_then_pinned_by_digest(dry_run):
    printed = commands(dry_run.stdout)
    builds = [c for c in printed if c[:2] == ["docker", "build"]]
    assert sorted(option(c, "-f") for c in builds) == sorted(DOCKERFILES.values())
    assert all(c[-1] == "." and option(c, "--platform") == "linux/amd64" for c in builds)
    tags = [option(c, "-t") for c in builds]
    assert all(tag.endswith(":test-tag") for tag in tags)
    assert [c[2] for c in printed if c[:2] == ["docker", "push"]] == tags
    assert sum(c[:3] == ["aws", "ecr", "describe-images"] for c in printed) == 3

    lambda_stack, web_stack = overrides(deploys(dry_run)[3]), overrides(deploys(dry_run)[4])
    pinned = {
        "thumbnail-lambda": lambda_stack["ThumbnailLambdaImageUri"],
        "annotation-lambda": lambda_stack["AnnotationLambdaImageUri"],
        "web-app": web_stack["WebAppImageUri"],
    }
    for name, reference in pinned.items():
        assert re.fullmatch(DIGEST_PINNED.format(name=name), reference), reference
        assert f"{reference.split('@')[0]}:test-tag" in tags
    assert len(set(pinned.values())) == 3

    order = [" ".join(c[:2]) for c in printed]
    last_push = max(i for i, c in enumerate(printed) if c[:2] == ["docker", "push"])
    first_function_stack = printed.index(deploys(dry_run)[3])
    assert last_push < first_function_stack, order


def test_dry_run_digests_are_deterministic(stubs, dry_run, tmp_path):
    again = run_script(stubs, "--dry-run", config=config_with(tmp_path, IMAGE_TAG="test-tag"))
    assert again.stdout == dry_run.stdout


def test_parameters_passed_to_each_stack_satisfy_its_template(dry_run):
    for command in deploys(dry_run):
        parameters = cfn_yaml.load(str(REPO / option(command, "--template-file")))["Parameters"]
        passed = overrides(command)
        assert set(passed) <= set(parameters), set(passed) - set(parameters)
        required = {name for name, p in parameters.items() if "Default" not in p}
        assert required <= set(passed), required - set(passed)
        for name, value in passed.items():
            parameter = parameters[name]
            if "AllowedValues" in parameter:
                assert value in [str(v) for v in parameter["AllowedValues"]], (name, value)
            if "AllowedPattern" in parameter and "sha256" not in parameter["AllowedPattern"]:
                assert re.fullmatch(parameter["AllowedPattern"], value), (name, value)
            if parameter["Type"] == "Number":
                assert parameter.get("MinValue", -1e18) <= float(value) <= parameter.get("MaxValue", 1e18), name


def test_example_config_lists_every_setting_the_script_reads():
    example = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", EXAMPLE.read_text(), re.MULTILINE))
    known = set(re.findall(r"^CFG_([A-Z0-9_]+)=", SCRIPT.read_text(), re.MULTILINE))
    assert example == known


def test_unknown_settings_are_refused(stubs, tmp_path):
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, NOT_A_SETTING="1"))
    assert result.returncode != 0
    assert "unknown setting NOT_A_SETTING" in result.stderr


def test_gemini_key_is_stored_from_a_file_and_never_printed(stubs, tmp_path):
    key_file = tmp_path / "gemini.key"
    key_file.write_text("AIza-not-a-real-key\n")
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, GEMINI_API_KEY_FILE=str(key_file)))
    assert result.returncode == 0, result.stderr
    assert "AIza-not-a-real-key" not in result.stdout + result.stderr
    (store,) = [c for c in commands(result.stdout) if c[:3] == ["aws", "secretsmanager", "put-secret-value"]]
    assert option(store, "--secret-string").startswith("file://")


def test_real_config_is_git_ignored():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "deployment/config.env"], cwd=REPO, capture_output=True, timeout=10
    )
    assert result.returncode == 0, "deployment/config.env would be committed"


# --- Teardown -------------------------------------------------------------------------------------------


def test_teardown_empties_the_buckets_then_deletes_the_stacks_in_reverse_order(stubs, tmp_path, dry_run):
    result = run_script(stubs, "--dry-run", "--teardown", config=config_with(tmp_path, IMAGE_TAG="test-tag"))
    assert result.returncode == 0, result.stderr
    printed = commands(result.stdout)
    deleted = [option(c, "--stack-name") for c in printed if c[:3] == ["aws", "cloudformation", "delete-stack"]]
    assert deleted == [name for name, _ in reversed(STACK_ORDER)]
    waits = [c for c in printed if c[:4] == ["aws", "cloudformation", "wait", "stack-delete-complete"]]
    assert len(waits) == 5
    emptied = [i for i, c in enumerate(printed) if c[:3] == ["aws", "s3", "rm"]]
    app_deleted = next(
        i for i, c in enumerate(printed) if c[:3] == ["aws", "cloudformation", "delete-stack"] and "-app" in c[-1]
    )
    assert len(emptied) == 2 and max(emptied) < app_deleted
    assert not [c for c in printed if c[:2] == ["docker", "build"]]


def test_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


# --- Access ---------------------------------------------------------------------------------------------


def test_by_default_only_the_deployers_own_address_may_reach_the_load_balancer(dry_run):
    printed = commands(dry_run.stdout)
    lookups = [c for c in printed if c[0] == "curl"]
    assert lookups and lookups[0][-1] == "https://checkip.amazonaws.com"
    network = overrides(deploys(dry_run)[1])
    assert network["AllowedIngressCidr"] == "203.0.113.10/32"  # the dry run's documentation address
    assert printed.index(lookups[0]) < printed.index(deploys(dry_run)[1])


def test_an_allowed_range_in_the_config_is_used_as_is(stubs, tmp_path):
    config = config_with(tmp_path, IMAGE_TAG="test-tag", ALLOWED_INGRESS_CIDR="198.51.100.0/24")
    result = run_script(stubs, "--dry-run", config=config)
    assert result.returncode == 0, result.stderr
    assert overrides(deploys(result)[1])["AllowedIngressCidr"] == "198.51.100.0/24"
    assert not [c for c in commands(result.stdout) if c[0] == "curl"]


def test_the_end_says_how_to_read_the_admin_password_and_warns_about_plain_http(dry_run):
    tail = dry_run.stdout.split("==> Done", 1)[1]
    command = re.search(r"^  (aws secretsmanager get-secret-value .+)$", tail, re.MULTILINE).group(1)
    assert option(shlex.split(command), "--secret-id").endswith("AdminPasswordSecret-DRYRUN")
    assert "--query SecretString" in command
    assert "passwords and session cookies cross the network in clear" in tail
