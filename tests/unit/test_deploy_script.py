"""deploy.sh --dry-run prints every AWS and Docker command, in order, with digest-pinned images.

`aws` and `docker` are replaced by stubs that record any call: a dry run must make none.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
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


def config_with(tmp_path: Path, **settings: str | None) -> Path:
    """The example config with `settings` replaced or added; a None value removes the line."""
    text = EXAMPLE.read_text()
    for key, value in settings.items():
        if value is None:
            text = re.sub(rf"^{key}=.*\n", "", text, flags=re.MULTILINE)
            continue
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
    # Each tag is looked up before the build (an image already pushed is reused) and after the push.
    assert sum(c[:3] == ["aws", "ecr", "describe-images"] for c in printed) == 6

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


def git(folder: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True, timeout=30).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_images_are_tagged_with_the_commit_and_uncommitted_changes_get_a_tag_of_their_own(stubs, tmp_path):
    """The repositories' tags are immutable: a tag must never be pushed twice with other content."""
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "deployment", checkout / "deployment")
    git(checkout, "init", "-q")
    git(checkout, "add", ".")
    git(checkout, "commit", "-q", "-m", "deployment")
    commit = git(checkout, "rev-parse", "--short=12", "HEAD")

    def tags() -> set[str]:
        config = config_with(tmp_path, IMAGE_TAG="")
        result = subprocess.run(
            ["bash", str(checkout / "deployment" / "deploy.sh"), "--config", str(config), "--dry-run"],
            env={**os.environ, "PATH": f"{stubs[0]}{os.pathsep}{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return {option(c, "-t").rsplit(":", 1)[1] for c in commands(result.stdout) if c[:2] == ["docker", "build"]}

    assert tags() == {commit}
    (checkout / "deployment" / "README.md").write_text("changed\n")
    (dirty,) = tags()
    assert re.fullmatch(rf"{commit}-dirty-20\d{{12}}", dirty), dirty


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


def stack_parameters(result, suffix: str) -> dict[str, str]:
    (command,) = [c for c in deploys(result) if option(c, "--stack-name").endswith(f"-{suffix}")]
    return overrides(command)


def test_the_stack_prefix_names_every_stack_and_reaches_every_template_that_takes_it(stubs, tmp_path):
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, STACK_PREFIX="dev"))
    assert result.returncode == 0, result.stderr
    names = [option(c, "--stack-name") for c in deploys(result)]
    assert names == [name.replace("image-annotation-", "dev-") for name, _ in STACK_ORDER]
    for command in deploys(result):
        parameters = cfn_yaml.load(str(REPO / option(command, "--template-file")))["Parameters"]
        if "StackPrefix" in parameters:
            assert overrides(command)["StackPrefix"] == "dev", option(command, "--template-file")
    assert option(deploys(result)[0], "--template-file").startswith("deployment/00-")
    assert "StackPrefix" in overrides(deploys(result)[0])
    builds = [c for c in commands(result.stdout) if c[:2] == ["docker", "build"]]
    assert all("/dev-" in option(c, "-t") for c in builds)


@pytest.mark.parametrize("prefix", ["Dev", "9lives", "dev_1", "x" * 41])
def test_a_stack_prefix_that_cannot_name_resources_is_refused_before_anything_runs(stubs, tmp_path, prefix):
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, STACK_PREFIX=prefix))
    assert result.returncode != 0
    assert f"STACK_PREFIX={prefix}" in result.stderr and "lower-case" in result.stderr
    assert not commands(result.stdout)


@pytest.mark.parametrize(("configured", "passed"), [("", "LabInstanceProfile"), ("MyProfile", "MyProfile")])
def test_a_lab_role_reaches_both_role_stacks_with_an_existing_instance_profile(stubs, tmp_path, configured, passed):
    lab_role = "arn:aws:iam::123456789012:role/LabRole"
    config = config_with(tmp_path, LAB_ROLE_ARN=lab_role, LAB_INSTANCE_PROFILE_NAME=configured)
    result = run_script(stubs, "--dry-run", config=config)
    assert result.returncode == 0, result.stderr
    assert stack_parameters(result, "lambda")["LabRoleArn"] == lab_role
    web = stack_parameters(result, "web")
    assert web["LabRoleArn"] == lab_role and web["LabInstanceProfileName"] == passed


@pytest.mark.parametrize(("architecture", "platform"), [("x86_64", "linux/amd64"), ("arm64", "linux/arm64")])
def test_lambda_architecture_sets_the_lambda_images_platform_and_the_functions(stubs, tmp_path, architecture, platform):
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, LAMBDA_ARCHITECTURE=architecture))
    assert result.returncode == 0, result.stderr
    builds = {option(c, "-f"): option(c, "--platform") for c in commands(result.stdout) if c[:2] == ["docker", "build"]}
    assert builds == {
        DOCKERFILES["annotation-lambda"]: platform,
        DOCKERFILES["thumbnail-lambda"]: platform,
        DOCKERFILES["web-app"]: "linux/amd64",  # the instance types and the AMI of stack 04 are x86_64
    }
    assert stack_parameters(result, "lambda")["LambdaArchitecture"] == architecture


def test_web_instances_and_their_image_are_x86_64():
    parameters = cfn_yaml.load(str(REPO / STACK_ORDER[4][1]))["Parameters"]
    assert parameters["LatestAmiId"]["Default"].endswith("-x86_64")
    assert all(t.startswith(("t3.", "t3a.")) for t in parameters["InstanceType"]["AllowedValues"])
    assert re.search(r"^WEB_PLATFORM=linux/amd64$", SCRIPT.read_text(), re.MULTILINE)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"LAMBDA_ARCHITECTURE": "amd64"}, "LAMBDA_ARCHITECTURE=amd64: use x86_64 or arm64"),
        ({"PLATFORM": "linux/arm64"}, "PLATFORM was replaced by LAMBDA_ARCHITECTURE"),
    ],
)
def test_an_architecture_the_functions_cannot_run_is_refused(stubs, tmp_path, setting, message):
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, **setting))
    assert result.returncode != 0
    assert message in result.stderr
    assert not commands(result.stdout)


@pytest.mark.parametrize(
    ("allocated", "configured", "ceiling"),
    [
        ("20", "", "100"),  # the default: max(100, 5 x allocated)
        ("50", "", "250"),
        ("1000", "", "2000"),  # capped at the template's MaxValue
        ("20", "22", "22"),  # exactly 10 % above is enough
        ("100", "110", "110"),
        ("200", "300", "300"),
    ],
)
def test_storage_ceiling_follows_the_allocated_storage(stubs, tmp_path, allocated, configured, ceiling):
    config = config_with(tmp_path, DB_ALLOCATED_STORAGE=allocated, DB_MAX_ALLOCATED_STORAGE=configured)
    result = run_script(stubs, "--dry-run", config=config)
    assert result.returncode == 0, result.stderr
    passed = stack_parameters(result, "app")
    assert passed["DBAllocatedStorage"] == allocated and passed["DBMaxAllocatedStorage"] == ceiling
    template = cfn_yaml.load(str(REPO / STACK_ORDER[2][1]))["Parameters"]["DBMaxAllocatedStorage"]
    assert int(ceiling) <= template["MaxValue"]
    assert int(ceiling) * 10 >= int(allocated) * 11


@pytest.mark.parametrize(
    ("allocated", "configured", "message"),
    [
        ("20", "21", "at least 22 GiB"),
        ("100", "109", "at least 110 GiB"),
        ("500", "400", "at least 550 GiB"),
        ("20", "2001", "at most 2000 GiB"),
        ("20", "lots", "a whole number of GiB"),
        ("twenty", "", "DB_ALLOCATED_STORAGE=twenty"),
    ],
)
def test_a_storage_ceiling_rds_would_refuse_stops_the_deploy_before_it_starts(
    stubs, tmp_path, allocated, configured, message
):
    config = config_with(tmp_path, DB_ALLOCATED_STORAGE=allocated, DB_MAX_ALLOCATED_STORAGE=configured)
    result = run_script(stubs, "--dry-run", config=config)
    assert result.returncode != 0
    assert message in result.stderr
    assert not deploys(result), "no stack may be deployed with a ceiling RDS refuses"


def test_job_settings_reach_the_functions_and_the_web_tier(stubs, tmp_path, dry_run):
    assert stack_parameters(dry_run, "lambda")["JobMaxAttempts"] == "5"
    assert stack_parameters(dry_run, "lambda")["GeminiTimeoutSeconds"] == "30"
    config = config_with(tmp_path, JOB_MAX_ATTEMPTS="7", JOB_LEASE_SECONDS="120", GEMINI_TIMEOUT_SECONDS="20")
    result = run_script(stubs, "--dry-run", config=config)
    assert result.returncode == 0, result.stderr
    functions, web = stack_parameters(result, "lambda"), stack_parameters(result, "web")
    assert functions["JobMaxAttempts"] == web["JobMaxAttempts"] == "7"
    assert functions["JobLeaseSeconds"] == web["JobLeaseSeconds"] == "120"
    assert functions["GeminiTimeoutSeconds"] == "20"


def test_database_is_mysql_8_4_unless_the_config_says_otherwise(stubs, tmp_path, dry_run):
    assert stack_parameters(dry_run, "app")["DBEngineVersion"] == "8.4"
    without = run_script(stubs, "--dry-run", config=config_with(tmp_path, DB_ENGINE_VERSION=None))
    assert without.returncode == 0, without.stderr
    assert stack_parameters(without, "app")["DBEngineVersion"] == "8.4"
    older = run_script(stubs, "--dry-run", config=config_with(tmp_path, DB_ENGINE_VERSION="8.0"))
    assert stack_parameters(older, "app")["DBEngineVersion"] == "8.0"


def test_example_config_lists_every_setting_the_script_reads():
    example = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", EXAMPLE.read_text(), re.MULTILINE))
    known = set(re.findall(r"^CFG_([A-Z0-9_]+)=", SCRIPT.read_text(), re.MULTILINE))
    assert example == known


def test_unknown_settings_are_refused(stubs, tmp_path):
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, NOT_A_SETTING="1"))
    assert result.returncode != 0
    assert "unknown setting NOT_A_SETTING" in result.stderr


API_KEY_FILES = {"GEMINI_API_KEY_FILE": "GeminiApiKeySecretArn", "OPENAI_API_KEY_FILE": "OpenAIApiKeySecretArn"}


@pytest.mark.parametrize("setting", list(API_KEY_FILES))
def test_an_api_key_is_stored_from_a_file_and_never_printed(stubs, tmp_path, setting):
    key_file = tmp_path / "provider.key"
    key_file.write_text("sk-not-a-real-key\n")
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, **{setting: str(key_file)}))
    assert result.returncode == 0, result.stderr
    assert "sk-not-a-real-key" not in result.stdout + result.stderr
    (store,) = [c for c in commands(result.stdout) if c[:3] == ["aws", "secretsmanager", "put-secret-value"]]
    assert option(store, "--secret-string").startswith("file://")
    assert API_KEY_FILES[setting].removesuffix("Arn") in option(store, "--secret-id")


CAPTION_SETTINGS = {
    "CAPTION_PROVIDER": "CaptionProvider",
    "CAPTION_LANGUAGE": "CaptionLanguage",
    "GEMINI_MODEL_NAME": "GeminiModelName",
    "GEMINI_PROMPT": "GeminiPrompt",
    "OPENAI_MODEL": "OpenAIModel",
}
FUNCTION_ONLY_CAPTION_SETTINGS = {
    "GEMINI_TIMEOUT_SECONDS": "GeminiTimeoutSeconds",
    "OPENAI_BASE_URL": "OpenAIBaseUrl",
    "OPENAI_TIMEOUT_SECONDS": "OpenAITimeoutSeconds",
}


def test_caption_settings_reach_the_functions_and_the_web_tier_alike(stubs, tmp_path):
    """`flask captions backfill` on the web tier compares stored captions with what the function writes."""
    configured = {
        "CAPTION_PROVIDER": "openai",
        "CAPTION_LANGUAGE": "pt-BR",
        "GEMINI_MODEL_NAME": "gemini-2.5-flash",
        "GEMINI_PROMPT": 'Describe it, briefly: what\'s in the "picture", and where?',
        "OPENAI_MODEL": "llava:13b",
        "GEMINI_TIMEOUT_SECONDS": "20",
        "OPENAI_BASE_URL": "https://llm.example.com/v1",
        "OPENAI_TIMEOUT_SECONDS": "45",
    }
    quoted = {key: f"'{value}'" if key == "GEMINI_PROMPT" else value for key, value in configured.items()}
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, **quoted))
    assert result.returncode == 0, result.stderr
    functions, web = stack_parameters(result, "lambda"), stack_parameters(result, "web")
    for setting, parameter in CAPTION_SETTINGS.items():
        assert functions[parameter] == web[parameter] == configured[setting], parameter
    for setting, parameter in FUNCTION_ONLY_CAPTION_SETTINGS.items():
        assert functions[parameter] == configured[setting], parameter
        assert parameter not in web, parameter


# Every config key that reaches a stack parameter standing for a setting of annotation_core.settings.
SETTING_PARAMETERS = {
    **CAPTION_SETTINGS,
    **FUNCTION_ONLY_CAPTION_SETTINGS,
    "THUMBNAIL_WIDTH": "ThumbnailWidth",
    "THUMBNAIL_HEIGHT": "ThumbnailHeight",
    "PREVIEW_SIZE": "PreviewSize",
    "THUMBNAIL_FORMAT": "ThumbnailFormat",
    "KEEP_LOCATION": "KeepLocation",
    "LOG_LEVEL": "LogLevel",
    "JOB_LEASE_SECONDS": "JobLeaseSeconds",
    "JOB_MAX_ATTEMPTS": "JobMaxAttempts",
    "TRASH_RETENTION_DAYS": "TrashRetentionDays",
    "MAX_UPLOAD_MB": "MaxUploadMb",
}


@pytest.mark.parametrize("source", ["example config", "settings left out"])
def test_settings_not_changed_deploy_with_the_templates_defaults(stubs, tmp_path, source):
    """config.example.env and the script's own defaults agree with the templates (whose defaults a test of
    test_cloudformation.py holds to annotation_core.settings), so an untouched setting keeps the code's."""
    removed = {key: None for key in SETTING_PARAMETERS} if source == "settings left out" else {}
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, **removed))
    assert result.returncode == 0, result.stderr
    checked = set()
    for command in deploys(result):
        declared = cfn_yaml.load(str(REPO / option(command, "--template-file")))["Parameters"]
        passed = overrides(command)
        for parameter in SETTING_PARAMETERS.values():
            if parameter in declared:
                assert passed[parameter] == str(declared[parameter]["Default"]), (
                    option(command, "--stack-name"),
                    parameter,
                )
                checked.add(parameter)
    assert checked == set(SETTING_PARAMETERS.values())


@pytest.mark.parametrize(
    ("provider", "missing", "not_mentioned"),
    [
        ("gemini", "GEMINI_API_KEY_FILE", "OPENAI_API_KEY_FILE"),
        ("openai", "OPENAI_API_KEY_FILE", "GEMINI_API_KEY_FILE"),
    ],
)
def test_the_provider_in_use_warns_when_its_key_file_is_missing(stubs, tmp_path, provider, missing, not_mentioned):
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, CAPTION_PROVIDER=provider))
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stdout.splitlines() if line.startswith("warning:") and "API_KEY" in line]
    assert warning.startswith(f"warning: {missing} is not set; captions fail until the")
    assert not_mentioned not in result.stdout
    assert not [c for c in commands(result.stdout) if c[:2] == ["aws", "secretsmanager"]]
    secret = API_KEY_FILES[missing].removesuffix("Arn")
    assert f"--secret-id arn:aws:secretsmanager:us-east-1:123456789012:secret:{secret}-DRYRUN" in result.stdout


def test_an_openai_compatible_server_may_need_no_key(stubs, tmp_path):
    config = config_with(tmp_path, CAPTION_PROVIDER="openai", OPENAI_BASE_URL="http://10.0.0.5:11434/v1")
    result = run_script(stubs, "--dry-run", config=config)
    assert result.returncode == 0, result.stderr
    assert "OPENAI_API_KEY_FILE is not set" in result.stdout
    assert "unless the server at OPENAI_BASE_URL takes none" in result.stdout


@pytest.mark.parametrize("provider", ["OpenAI", "anthropic", ""])
def test_an_unknown_caption_provider_is_refused_before_anything_runs(stubs, tmp_path, provider):
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, CAPTION_PROVIDER=provider))
    assert result.returncode != 0
    assert f"CAPTION_PROVIDER={provider}: use gemini or openai" in result.stderr
    assert not commands(result.stdout)


def test_real_config_is_git_ignored():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "deployment/config.env"], cwd=REPO, capture_output=True, timeout=10
    )
    assert result.returncode == 0, "deployment/config.env would be committed"


# --- Real runs against a fake AWS CLI -----------------------------------------------------------------

# An `aws` stand-in that keeps the account's state in a JSON file ("world"): stacks and their status,
# Lambda concurrency settings. It answers what deploy.sh asks and records every call.
FAKE_AWS = r"""
import json, re, sys

WORLD = sys.argv[1]
args = sys.argv[2:]
with open(WORLD) as f:
    world = json.load(f)
world["calls"].append(args)


def option(name):
    return args[args.index(name) + 1] if name in args else None


def finish(out="", code=0, err=""):
    with open(WORLD, "w") as f:
        json.dump(world, f)
    if out:
        print(out)
    if err:
        print(err, file=sys.stderr)
    sys.exit(code)


command, stack, stacks = " ".join(args[:2]), option("--stack-name"), world["stacks"]
if command == "sts get-caller-identity":
    finish("123456789012")
if command == "cloudformation describe-stacks":
    if world.get("describe_error"):
        finish(code=254, err=world["describe_error"])
    if stack not in stacks:
        finish(code=254, err=f"An error occurred (ValidationError) when calling the DescribeStacks "
                             f"operation: Stack with id {stack} does not exist")
    query = option("--query")
    if query is None:  # does the stack exist?
        finish(json.dumps({"Stacks": [{"StackName": stack, "StackStatus": stacks[stack]}]}))
    if query == "Stacks[0].StackStatus":
        finish(stacks[stack])
    key = re.search(r"OutputKey=='(\w+)'", query).group(1)
    if key.endswith("RepositoryUri"):
        finish("123456789012.dkr.ecr.us-east-1.amazonaws.com/" + key.lower())
    finish(f"fake-{key}")
if command == "cloudformation deploy":
    if stacks.get(stack) == "ROLLBACK_COMPLETE":
        finish(code=255, err=f"An error occurred (ValidationError) when calling the CreateChangeSet "
                             f"operation: Stack:{stack} is in ROLLBACK_COMPLETE state and can not be updated.")
    stacks[stack] = "UPDATE_COMPLETE" if stack in stacks else "CREATE_COMPLETE"
    finish()
if command == "cloudformation delete-stack":
    stacks.pop(stack, None)
    finish()
if command == "cloudformation wait":
    finish()
if command == "secretsmanager put-secret-value":
    with open(option("--secret-string").removeprefix("file://")) as f:
        world["secrets"][option("--secret-id")] = f.read()
    finish("fake-version-id")
if command == "ecr describe-images":
    image = option("--repository-name") + ":" + option("--image-ids").removeprefix("imageTag=")
    if world["images"] is not None and image not in world["images"]:
        finish(code=254, err="An error occurred (ImageNotFoundException) when calling the DescribeImages "
                             f"operation: The image with imageId {image} does not exist")
    finish("sha256:" + "ab" * 32)
if command == "ecr get-login-password":
    finish("fake-password")
if command == "s3api list-object-versions":
    bucket = world["buckets"].setdefault(option("--bucket"), [])
    batch = bucket[: int(option("--max-keys"))] if "--no-paginate" in args else bucket
    finish(json.dumps({"Objects": [{"Key": k, "VersionId": v} for k, v in batch], "Quiet": True}))
if command == "s3api delete-objects":
    objects = json.loads(option("--delete"))["Objects"]
    if len(objects) > 1000:
        finish(code=254, err="An error occurred (MalformedXML) when calling the DeleteObjects operation")
    gone = {(o["Key"], o["VersionId"]) for o in objects}
    world["buckets"][option("--bucket")] = [kv for kv in world["buckets"][option("--bucket")] if tuple(kv) not in gone]
    finish()
if command == "lambda get-account-settings":
    if world["account"] is None:
        finish(code=254, err="An error occurred (AccessDeniedException) when calling the GetAccountSettings operation")
    limit, unreserved = world["account"]
    finish(f"{limit}\t{unreserved}")
if command == "lambda get-function-concurrency":
    name = option("--function-name")
    if name not in world["reserved"]:
        finish(code=254, err=f"An error occurred (ResourceNotFoundException): Function not found: {name}")
    finish("None" if world["reserved"][name] is None else str(world["reserved"][name]))
finish(code=97, err=f"fake aws: unexpected call {args}")
"""


# A `docker` stand-in for runs that build: records each call; a push puts the tag in the fake ECR.
FAKE_DOCKER = r"""
import json, sys

WORLD = sys.argv[1]
args = sys.argv[2:]
if args[0] == "login":  # `aws ecr get-login-password | docker login`: the fake aws writes the world first
    sys.stdin.read()
with open(WORLD) as f:
    world = json.load(f)
world.setdefault("docker", []).append(args)
if args[0] == "push":
    world["images"].append(args[1].split("/", 1)[1])
with open(WORLD, "w") as f:
    json.dump(world, f)
"""


class FakeAws:
    def __init__(self, folder: Path, stacks: dict[str, str], **state) -> None:
        self.folder = folder
        self.world = folder / "world.json"
        world = {
            "calls": [],
            "stacks": stacks,
            "account": [1000, 1000],
            "reserved": {},
            "secrets": {},
            "images": None,  # None: every tag is in ECR; else the "<repository>:<tag>" pushed so far
            "buckets": {},  # bucket name: [[key, version id], ...]
            **state,
        }
        self.world.write_text(json.dumps(world))
        program = folder / "fake_aws.py"
        program.write_text(FAKE_AWS)
        stub = folder / "aws"
        stub.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{program}" "{self.world}" "$@"\n')
        stub.chmod(0o755)
        docker = folder / "docker"
        docker.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{folder / "fake_docker.py"}" "{self.world}" "$@"\n')
        docker.chmod(0o755)
        (folder / "fake_docker.py").write_text(FAKE_DOCKER)
        curl = folder / "curl"  # the deployer's public address (ALLOWED_INGRESS_CIDR left empty)
        curl.write_text("#!/bin/sh\necho 198.51.100.7\n")
        curl.chmod(0o755)

    @property
    def state(self) -> dict:
        return json.loads(self.world.read_text())

    def calls(self, *prefix: str) -> list[list[str]]:
        return [c for c in self.state["calls"] if c[: len(prefix)] == list(prefix)]

    def run(
        self, tmp_path: Path, *args: str, stdin: str = "", build: bool = False, **settings: str
    ) -> subprocess.CompletedProcess[str]:
        config = config_with(tmp_path, **{"IMAGE_TAG": "test-tag", **settings})
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env["PATH"] = f"{self.folder}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(
            ["bash", str(SCRIPT), "--config", str(config), *([] if build else ["--skip-build"]), *args],
            cwd=REPO,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )


def fake_aws(tmp_path: Path, stacks: dict[str, str], **state) -> FakeAws:
    folder = tmp_path / "bin"
    folder.mkdir()
    return FakeAws(folder, stacks, **state)


def healthy_stacks(**overrides: str) -> dict[str, str]:
    return {**{name: "CREATE_COMPLETE" for name, _ in STACK_ORDER}, **overrides}


APP = STACK_ORDER[2][0]


def test_a_stack_whose_first_creation_rolled_back_is_deleted_and_created_again_with_yes(tmp_path):
    aws = fake_aws(tmp_path, healthy_stacks(**{APP: "ROLLBACK_COMPLETE"}))
    result = aws.run(tmp_path, "--yes")
    assert result.returncode == 0, result.stderr
    assert "ROLLBACK_COMPLETE" in result.stdout
    calls = aws.state["calls"]
    delete = calls.index(["cloudformation", "delete-stack", "--region", "us-east-1", "--stack-name", APP])
    wait = calls.index(
        ["cloudformation", "wait", "stack-delete-complete", "--region", "us-east-1", "--stack-name", APP]
    )
    (deploy,) = [
        i for i, c in enumerate(calls) if c[:2] == ["cloudformation", "deploy"] and option(c, "--stack-name") == APP
    ]
    assert delete < wait < deploy
    assert [option(c, "--stack-name") for c in aws.calls("cloudformation", "delete-stack")] == [APP]
    assert [option(c, "--stack-name") for c in aws.calls("cloudformation", "deploy")] == [n for n, _ in STACK_ORDER]
    assert aws.state["stacks"][APP] == "CREATE_COMPLETE"


@pytest.mark.parametrize("answer", ["y\n", "yes\n"])
def test_without_yes_the_script_asks_before_deleting_a_rolled_back_stack(tmp_path, answer):
    aws = fake_aws(tmp_path, healthy_stacks(**{APP: "ROLLBACK_COMPLETE"}))
    result = aws.run(tmp_path, stdin=answer)
    assert result.returncode == 0, result.stderr
    assert [option(c, "--stack-name") for c in aws.calls("cloudformation", "delete-stack")] == [APP]
    assert aws.state["stacks"][APP] == "CREATE_COMPLETE"


@pytest.mark.parametrize("answer", ["n\n", "\n", ""])
def test_anything_but_yes_leaves_a_rolled_back_stack_alone_and_stops(tmp_path, answer):
    aws = fake_aws(tmp_path, healthy_stacks(**{APP: "ROLLBACK_COMPLETE"}))
    result = aws.run(tmp_path, stdin=answer)
    assert result.returncode != 0
    assert "cancelled" in result.stderr and "--yes" in result.stderr
    assert not aws.calls("cloudformation", "delete-stack")
    deployed = [option(c, "--stack-name") for c in aws.calls("cloudformation", "deploy")]
    assert deployed == [STACK_ORDER[0][0], STACK_ORDER[1][0]], "nothing after the rolled-back stack may run"


def test_every_stack_status_is_checked_before_its_deploy_and_healthy_stacks_are_never_deleted(tmp_path):
    stacks = healthy_stacks(**{APP: "UPDATE_ROLLBACK_COMPLETE"})
    del stacks[STACK_ORDER[4][0]]  # the web stack does not exist yet
    aws = fake_aws(tmp_path, stacks)
    result = aws.run(tmp_path, "--yes")
    assert result.returncode == 0, result.stderr
    assert not aws.calls("cloudformation", "delete-stack")
    calls = aws.state["calls"]
    for name, _ in STACK_ORDER:
        (deploy,) = [
            i
            for i, c in enumerate(calls)
            if c[:2] == ["cloudformation", "deploy"] and option(c, "--stack-name") == name
        ]
        checks = [
            i
            for i, c in enumerate(calls[:deploy])
            if c[:2] == ["cloudformation", "describe-stacks"]
            and option(c, "--stack-name") == name
            and option(c, "--query") == "Stacks[0].StackStatus"
        ]
        assert checks, f"{name} was deployed without looking at its status"
    assert aws.state["stacks"][STACK_ORDER[4][0]] == "CREATE_COMPLETE"
    assert re.search(r"^Web app: fake-LoadBalancerUrl$", result.stdout, re.MULTILINE)


def test_an_image_is_pushed_once_and_a_tag_already_in_ecr_is_reused_not_pushed_again(tmp_path):
    aws = fake_aws(tmp_path, healthy_stacks(), images=["webapprepositoryuri:test-tag"])
    first = aws.run(tmp_path, "--yes", build=True)
    assert first.returncode == 0, first.stderr
    pushed = [c[1] for c in aws.state["docker"] if c[0] == "push"]
    assert sorted(p.split("/", 1)[1] for p in pushed) == [
        "annotationlambdarepositoryuri:test-tag",
        "thumbnaillambdarepositoryuri:test-tag",
    ]
    assert "webapprepositoryuri:test-tag is already in ECR, reused" in first.stdout

    calls_before = len(aws.state["docker"])
    again = aws.run(tmp_path, "--yes", build=True)
    assert again.returncode == 0, again.stderr
    assert [c[0] for c in aws.state["docker"][calls_before:]] == ["login"], "nothing is built or pushed twice"


def test_a_lookup_error_other_than_a_missing_image_stops_before_building(tmp_path):
    aws = fake_aws(tmp_path, healthy_stacks(), images=[])
    aws_program = aws.folder / "fake_aws.py"
    aws_program.write_text(aws_program.read_text().replace("ImageNotFoundException", "AccessDeniedException"))
    result = aws.run(tmp_path, "--yes", build=True)
    assert result.returncode != 0
    assert "AccessDeniedException" in result.stderr and "could not look up" in result.stderr
    assert [c[0] for c in aws.state.get("docker", [])] == ["login"]


def test_teardown_deletes_every_version_of_every_object_in_batches_of_1000(tmp_path):
    versions = [[f"uploads/{n}.jpg", f"v{n}"] for n in range(2500)]
    buckets = {"fake-ImageBucketName": versions, "fake-ThumbnailBucketName": [["thumbnails/1.webp", "a"]]}
    aws = fake_aws(tmp_path, healthy_stacks(), buckets=buckets)
    result = aws.run(tmp_path, "--teardown", "--yes")
    assert result.returncode == 0, result.stderr
    assert aws.state["buckets"] == {"fake-ImageBucketName": [], "fake-ThumbnailBucketName": []}
    deletes = aws.calls("s3api", "delete-objects")
    assert [len(json.loads(option(c, "--delete"))["Objects"]) for c in deletes] == [1000, 1000, 500, 1]
    assert aws.calls("cloudformation", "delete-stack")


def test_a_status_that_cannot_be_read_stops_the_deploy_with_the_reason(tmp_path):
    error = "An error occurred (ExpiredToken) when calling the DescribeStacks operation: expired"
    aws = fake_aws(tmp_path, {}, describe_error=error)
    result = aws.run(tmp_path, "--yes")
    assert result.returncode != 0
    assert error in result.stderr and "cannot read the status of stack image-annotation-ecr" in result.stderr
    assert not aws.calls("cloudformation", "deploy")


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_both_api_keys_are_stored_stripped_in_their_own_secrets_and_never_printed(tmp_path, provider):
    gemini, openai = tmp_path / "gemini.key", tmp_path / "openai.key"
    gemini.write_text("  AIza-not-a-real-key\n")
    openai.write_text("sk-not-a-real-key\r\n")
    aws = fake_aws(tmp_path, healthy_stacks())
    result = aws.run(
        tmp_path, "--yes", CAPTION_PROVIDER=provider, GEMINI_API_KEY_FILE=str(gemini), OPENAI_API_KEY_FILE=str(openai)
    )
    assert result.returncode == 0, result.stderr
    assert aws.state["secrets"] == {
        "fake-GeminiApiKeySecretArn": "AIza-not-a-real-key",
        "fake-OpenAIApiKeySecretArn": "sk-not-a-real-key",
    }
    output = result.stdout + result.stderr
    assert "not-a-real-key" not in output
    assert not [line for line in output.splitlines() if line.startswith("warning:") and "API_KEY" in line]
    for call in aws.calls("secretsmanager", "put-secret-value"):
        assert "not-a-real-key" not in " ".join(call)
        assert not Path(option(call, "--secret-string").removeprefix("file://")).exists(), "the copy is removed"
    calls = aws.state["calls"]
    stores = [i for i, c in enumerate(calls) if c[:2] == ["secretsmanager", "put-secret-value"]]
    (lambda_deploy,) = [
        i
        for i, c in enumerate(calls)
        if c[:2] == ["cloudformation", "deploy"] and option(c, "--stack-name") == STACK_ORDER[3][0]
    ]
    assert len(stores) == 2 and max(stores) < lambda_deploy, "the keys are in place before the functions start"


def lambda_stack_parameters(aws: FakeAws) -> dict[str, str]:
    (command,) = [c for c in aws.calls("cloudformation", "deploy") if option(c, "--stack-name").endswith("-lambda")]
    return overrides(command)


@pytest.mark.parametrize(
    ("account", "reserved", "passed"),
    [
        ([1000, 1000], {}, "10"),  # plenty
        ([121, 121], {}, "10"),  # 2 x 10 + 1 reserved leaves exactly the 100 AWS keeps
        ([120, 120], {}, "0"),  # one short
        ([10, 10], {}, "0"),  # a new or lab account
        # A redeploy: the 21 this deployment already holds are not counted against it.
        (
            [125, 104],
            {"image-annotation-thumbnail": 10, "image-annotation-annotation": 10, "image-annotation-job-sweeper": 1},
            "10",
        ),
        ([1000, 1000], {"image-annotation-thumbnail": None}, "10"),  # exists, reserves nothing
    ],
)
def test_concurrency_is_reserved_only_where_the_account_can_spare_it(tmp_path, account, reserved, passed):
    aws = fake_aws(tmp_path, healthy_stacks(), account=account, reserved=reserved)
    result = aws.run(tmp_path, "--yes")
    assert result.returncode == 0, result.stderr
    assert lambda_stack_parameters(aws)["FunctionConcurrencyLimit"] == passed
    settings = aws.calls("lambda", "get-account-settings")
    assert len(settings) == 1
    assert "AccountLimit.ConcurrentExecutions" in option(settings[0], "--query")
    assert "AccountLimit.UnreservedConcurrentExecutions" in option(settings[0], "--query")
    if passed == "0":
        assert "cannot reserve 21 concurrent executions" in result.stderr
        assert f"limit is {account[0]} with {account[1]} unreserved" in result.stderr
        assert "LAMBDA_CONCURRENCY_LIMIT" in result.stderr
    else:
        assert "warning" not in result.stderr
    calls = aws.state["calls"]
    first_stack = next(i for i, c in enumerate(calls) if c[:2] == ["cloudformation", "deploy"])
    assert calls.index(settings[0]) < first_stack, "decided before anything is deployed"


def test_the_warning_says_how_much_would_fit(tmp_path):
    aws = fake_aws(tmp_path, healthy_stacks(), account=[115, 115])
    result = aws.run(tmp_path, "--yes")
    assert result.returncode == 0, result.stderr
    assert "at most 7 fits now" in result.stderr  # 2 x 7 + 1 = 15 = 115 - 100
    assert lambda_stack_parameters(aws)["FunctionConcurrencyLimit"] == "0"


def test_an_unreadable_account_setting_means_no_reservation_not_a_failed_deploy(tmp_path):
    aws = fake_aws(tmp_path, healthy_stacks(), account=None)
    result = aws.run(tmp_path, "--yes")
    assert result.returncode == 0, result.stderr
    assert "could not read this account's Lambda concurrency" in result.stderr
    assert lambda_stack_parameters(aws)["FunctionConcurrencyLimit"] == "0"


def test_no_reservation_asked_for_means_no_question_asked(tmp_path):
    aws = fake_aws(tmp_path, healthy_stacks())
    result = aws.run(tmp_path, "--yes", LAMBDA_CONCURRENCY_LIMIT="0")
    assert result.returncode == 0, result.stderr
    assert not aws.calls("lambda")
    assert lambda_stack_parameters(aws)["FunctionConcurrencyLimit"] == "0"


def test_dry_run_prints_the_concurrency_query_and_reserves_the_default(dry_run):
    printed = commands(dry_run.stdout)
    assert [c for c in printed if c[:3] == ["aws", "lambda", "get-account-settings"]]
    assert stack_parameters(dry_run, "lambda")["FunctionConcurrencyLimit"] == "10"


@pytest.mark.parametrize("value", ["ten", "-1", "010", "99999"])
def test_a_concurrency_limit_that_is_not_a_count_is_refused(stubs, tmp_path, value):
    result = run_script(stubs, "--dry-run", config=config_with(tmp_path, LAMBDA_CONCURRENCY_LIMIT=value))
    assert result.returncode != 0
    assert f"LAMBDA_CONCURRENCY_LIMIT={value}" in result.stderr
    assert not deploys(result)


# --- Teardown -------------------------------------------------------------------------------------------


def test_teardown_empties_the_buckets_then_deletes_the_stacks_in_reverse_order(stubs, tmp_path, dry_run):
    result = run_script(stubs, "--dry-run", "--teardown", config=config_with(tmp_path, IMAGE_TAG="test-tag"))
    assert result.returncode == 0, result.stderr
    printed = commands(result.stdout)
    deleted = [option(c, "--stack-name") for c in printed if c[:3] == ["aws", "cloudformation", "delete-stack"]]
    assert deleted == [name for name, _ in reversed(STACK_ORDER)]
    waits = [c for c in printed if c[:4] == ["aws", "cloudformation", "wait", "stack-delete-complete"]]
    assert len(waits) == 5
    emptied = [i for i, c in enumerate(printed) if c[:3] == ["aws", "s3api", "list-object-versions"]]
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
