"""The CloudFormation stacks lint clean and are wired together the way the application expects.

Templates are read with cfn-lint's own YAML decoder (short tags such as `!Sub` become `Fn::Sub`).
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from annotation_core.caption_backfill import current_provenance
from annotation_core.events import JOB_SOURCE, JobDue, job_due_entry
from annotation_core.lifecycle import RECORDING_MARGIN_SECONDS
from annotation_core.records import Job
from annotation_core.settings import SETTINGS, Settings, load_settings
from lambda_functions.thumbnail_lambda.lambda_function import rendition_keys

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "deployment"
# Deployment order, and the suffix deploy.sh gives each stack's name (<prefix>-<suffix>).
STACKS = {
    "ecr": "00-ecr-repositories.yaml",
    "network": "01-vpc-network.yaml",
    "app": "02-application-stack.yaml",
    "lambda": "03-lambda-stack.yaml",
    "web": "04-ec2-alb-asg-stack.yaml",
}
SETTING_NAMES = {setting.name for setting in SETTINGS}
SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}
# Read by gunicorn, boto3 or Docker rather than by annotation_core.settings.
RUNTIME_VARIABLES = {"WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "AWS_REGION", "AWS_DEFAULT_REGION"}
SECRET_VALUE_SETTINGS = {"DB_PASSWORD", "GEMINI_API_KEY", "FLASK_SECRET_KEY", "ADMIN_PASSWORD"}


@pytest.fixture(scope="module")
def templates() -> dict[str, Any]:
    return {suffix: cfn_yaml.load(str(DEPLOYMENT / file)) for suffix, file in STACKS.items()}


def resources(template, type_: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == type_}


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def imported(name: str) -> dict:
    """How templates import `<StackPrefix>-<stack>-<Output>`."""
    return {"Fn::ImportValue": {"Fn::Sub": "${StackPrefix}-" + name}}


# --- Lint -----------------------------------------------------------------------------------------


def test_cfn_lint_reports_no_errors_and_no_warnings():
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    assert cfn_lint, "cfn-lint is not installed (pip install -e '.[dev]')"
    files = [str(DEPLOYMENT / file) for file in STACKS.values()]
    result = subprocess.run([cfn_lint, *files], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


@pytest.mark.parametrize("file", list(STACKS.values()))
def test_every_template_fits_what_cloudformation_deploy_takes_without_an_s3_bucket(file):
    """deploy.sh runs `aws cloudformation deploy` without --s3-bucket, which refuses templates over 51,200 bytes."""
    size = (DEPLOYMENT / file).stat().st_size
    assert size <= 51_200, f"{file} is {size:,} bytes: shorten it, or give deploy.sh an S3 bucket for templates"


# --- Wiring between stacks ------------------------------------------------------------------------


def test_every_import_names_an_export_of_an_earlier_stack(templates):
    order = list(STACKS)
    exports = {
        suffix: {output["Export"]["Name"]["Fn::Sub"] for output in t.get("Outputs", {}).values() if "Export" in output}
        for suffix, t in templates.items()
    }
    for suffix, template in templates.items():
        for node in walk(template):
            if not (isinstance(node, dict) and "Fn::ImportValue" in node):
                continue
            name = node["Fn::ImportValue"]["Fn::Sub"]
            match = re.fullmatch(r"\$\{StackPrefix\}-(\w+)-(\w+)", name)
            assert match, f"{suffix}: import {name!r} does not use the StackPrefix parameter"
            source, output = match.groups()
            assert order.index(source) < order.index(suffix), f"{suffix} imports from later stack {source}"
            assert "${AWS::StackName}-" + output in exports[source], f"{source} exports no {output}"


def test_importing_stacks_take_the_stack_prefix_as_a_parameter(templates):
    for suffix in ("app", "lambda", "web"):
        assert templates[suffix]["Parameters"]["StackPrefix"]["Type"] == "String"


# Properties that give a resource its own name in the account (and region). A property of this list that
# points at another resource (Ref/GetAtt of a resource) is a reference, not a name.
NAME_PROPERTIES = {
    "Name",
    "FunctionName",
    "RepositoryName",
    "LogGroupName",
    "RoleName",
    "InstanceProfileName",
    "ManagedPolicyName",
    "QueueName",
    "TopicName",
    "AlarmName",
    "BucketName",
    "LaunchTemplateName",
    "AutoScalingGroupName",
    "GroupName",
    "DBInstanceIdentifier",
    "DBSubnetGroupName",
    "ScheduleName",
}


def explicit_names(template) -> Iterator[tuple[str, str, Any]]:
    """(resource, property, value) of every explicit name in a template."""
    for name, resource in template["Resources"].items():
        for key, value in resource.get("Properties", {}).items():
            if key not in NAME_PROPERTIES:
                continue
            if isinstance(value, dict) and value.get("Ref", "").split(".")[0] in template["Resources"]:
                continue
            if isinstance(value, dict) and "Fn::GetAtt" in value:
                continue
            yield name, key, value


def test_every_explicit_name_derives_from_the_stack_prefix(templates):
    """Two copies (dev, prod) share an account: no name may come from anything but the stack prefix."""
    named = set()
    for suffix, template in templates.items():
        for resource, key, value in explicit_names(template):
            text = value.get("Fn::Sub") if isinstance(value, dict) else value
            assert isinstance(text, str), f"{suffix}: {resource}.{key} = {value!r} is not derived from StackPrefix"
            assert "${StackPrefix}" in text or "${AWS::StackName}" in text, f"{suffix}: {resource}.{key} = {text}"
            named.add((suffix, resource))
    assert {
        ("ecr", "WebAppECRRepository"),
        ("ecr", "AnnotationLambdaECRRepository"),
        ("ecr", "ThumbnailLambdaECRRepository"),
        ("lambda", "ThumbnailFunction"),
        ("lambda", "AnnotationFunction"),
        ("lambda", "ThumbnailLogGroup"),
        ("lambda", "AnnotationLogGroup"),
        ("lambda", "SweeperFunction"),
        ("lambda", "SweeperLogGroup"),
        ("web", "WebLogGroup"),
    } <= named


def test_every_stack_that_names_resources_takes_the_same_lower_case_stack_prefix(templates):
    def constraints(parameter):
        return {key: value for key, value in parameter.items() if key != "Description"}

    prefixes = {
        suffix: t["Parameters"]["StackPrefix"] for suffix, t in templates.items() if "StackPrefix" in t["Parameters"]
    }
    for suffix, template in templates.items():
        if any(True for _ in explicit_names(template)):
            assert suffix in prefixes, f"{suffix} names resources but takes no StackPrefix"
    assert {"ecr", "app", "lambda", "web"} <= set(prefixes)
    for suffix, parameter in prefixes.items():
        assert constraints(parameter) == constraints(prefixes["ecr"]), suffix
    pattern = prefixes["ecr"]["AllowedPattern"]
    assert re.fullmatch(pattern, prefixes["ecr"]["Default"])
    assert not re.fullmatch(pattern, "Image-Annotation"), "ECR repository names must be lower case"
    longest = "p" * 40
    assert re.fullmatch(pattern, longest) and not re.fullmatch(pattern, longest + "p")
    for function in resources(templates["lambda"], "AWS::Lambda::Function").values():
        name = function["Properties"]["FunctionName"]["Fn::Sub"].replace("${StackPrefix}", longest)
        assert len(name) <= 64, f"{name} is longer than Lambda allows"


# --- Stack 00: ECR ----------------------------------------------------------------------------------


def test_three_repositories_scan_on_push_and_expire_old_images(templates):
    repositories = resources(templates["ecr"], "AWS::ECR::Repository")
    assert set(repositories) == {
        "WebAppECRRepository",
        "AnnotationLambdaECRRepository",
        "ThumbnailLambdaECRRepository",
    }
    for repository in repositories.values():
        properties = repository["Properties"]
        assert properties["ImageScanningConfiguration"]["ScanOnPush"] is True
        assert "expire" in properties["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Sub"]


# --- Stack 01: network ------------------------------------------------------------------------------


def test_two_public_and_two_private_subnets_in_two_zones(templates):
    subnets = resources(templates["network"], "AWS::EC2::Subnet")
    zones = {name: s["Properties"]["AvailabilityZone"]["Fn::Select"][0] for name, s in subnets.items()}
    assert zones == {"PublicSubnet1": 0, "PublicSubnet2": 1, "PrivateSubnet1": 0, "PrivateSubnet2": 1}
    routes = resources(templates["network"], "AWS::EC2::Route")
    assert routes["PrivateDefaultRoute"]["Properties"]["NatGatewayId"] == {"Ref": "NatGateway"}
    assert routes["PublicDefaultRoute"]["Properties"]["GatewayId"] == {"Ref": "InternetGateway"}


def test_instances_are_reachable_only_from_the_load_balancer(templates):
    groups = resources(templates["network"], "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in groups["WebInstanceSecurityGroup"]["Properties"]
    ingress = [
        r["Properties"]
        for r in resources(templates["network"], "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Ref": "WebInstanceSecurityGroup"}
    ]
    assert [rule["SourceSecurityGroupId"] for rule in ingress] == [{"Ref": "LoadBalancerSecurityGroup"}]
    assert {rule["FromPort"] for rule in ingress} == {5000}


def test_database_is_reachable_only_from_the_app_and_lambda_groups(templates):
    groups = resources(templates["network"], "AWS::EC2::SecurityGroup")
    rules = groups["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert {rule["SourceSecurityGroupId"]["Ref"] for rule in rules} == {
        "WebInstanceSecurityGroup",
        "LambdaSecurityGroup",
    }
    assert all(rule["FromPort"] == rule["ToPort"] == 3306 and "CidrIp" not in rule for rule in rules)
    assert "SecurityGroupIngress" not in groups["LambdaSecurityGroup"]["Properties"]


def test_only_the_load_balancer_accepts_traffic_from_anywhere(templates):
    for name, group in resources(templates["network"], "AWS::EC2::SecurityGroup").items():
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            if "CidrIp" in rule:
                assert name == "LoadBalancerSecurityGroup", name


# --- Stack 02: buckets, database, secrets -----------------------------------------------------------


def test_buckets_are_private_and_encrypted(templates):
    buckets = resources(templates["app"], "AWS::S3::Bucket")
    assert set(buckets) == {"ImageBucket", "ThumbnailBucket"}
    for bucket in buckets.values():
        properties = bucket["Properties"]
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
        assert len(properties["PublicAccessBlockConfiguration"]) == 4
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    image_bucket = buckets["ImageBucket"]["Properties"]
    assert image_bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True


def test_database_is_private_encrypted_mysql_8_with_a_managed_password(templates):
    (database,) = resources(templates["app"], "AWS::RDS::DBInstance").values()
    properties = database["Properties"]
    assert properties["Engine"] == "mysql"
    assert properties["EngineVersion"] == {"Ref": "DBEngineVersion"}
    assert properties["PubliclyAccessible"] is False
    assert properties["StorageEncrypted"] is True
    assert properties["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in properties
    (subnet_group,) = resources(templates["app"], "AWS::RDS::DBSubnetGroup").values()
    assert subnet_group["Properties"]["SubnetIds"] == [
        imported("network-PrivateSubnet1Id"),
        imported("network-PrivateSubnet2Id"),
    ]


def test_database_defaults_to_mysql_8_4_and_existing_8_0_stacks_may_upgrade(templates):
    """8.0 is in paid RDS Extended Support: new stacks get 8.4, and 8.0 stacks can be moved to it."""
    version = templates["app"]["Parameters"]["DBEngineVersion"]
    assert version["Default"] == "8.4"
    assert set(version["AllowedValues"]) == {"8.0", "8.4"}
    (database,) = resources(templates["app"], "AWS::RDS::DBInstance").values()
    assert database["Properties"]["AllowMajorVersionUpgrade"] is True


def test_idle_database_connections_close_long_before_reaped_lambdas_fill_the_server(templates):
    """A reaped Lambda environment never closes its connection: the server must drop idle ones itself, far
    sooner than MySQL's 8 h default, while the pools (pool_pre_ping) reconnect transparently."""
    (database,) = resources(templates["app"], "AWS::RDS::DBInstance").values()
    (name, group), *others = resources(templates["app"], "AWS::RDS::DBParameterGroup").items()
    assert not others and database["Properties"]["DBParameterGroupName"] == {"Ref": name}
    assert group["Properties"]["Family"] == {"Fn::Sub": "mysql${DBEngineVersion}"}
    assert 60 <= int(group["Properties"]["Parameters"]["wait_timeout"]) <= 900


def test_application_secrets_are_generated_or_filled_outside_the_template(templates):
    secrets = resources(templates["app"], "AWS::SecretsManager::Secret")
    assert set(secrets) == {"GeminiApiKeySecret", "OpenAIApiKeySecret", "FlaskSecretKeySecret", "AdminPasswordSecret"}
    # The API keys' secrets are created empty: deploy.sh stores each key from its file.
    for name in ("GeminiApiKeySecret", "OpenAIApiKeySecret"):
        properties = secrets[name]["Properties"]
        assert "SecretString" not in properties and "GenerateSecretString" not in properties, name
    assert "GenerateSecretString" in secrets["FlaskSecretKeySecret"]["Properties"]
    admin = secrets["AdminPasswordSecret"]["Properties"]["GenerateSecretString"]
    assert admin["PasswordLength"] >= 20 and "SecretStringTemplate" not in admin  # the bare password
    outputs = templates["app"]["Outputs"]
    assert outputs["DatabaseSecretArn"]["Value"] == {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}
    for name in ("GeminiApiKeySecret", "OpenAIApiKeySecret", "FlaskSecretKeySecret"):
        output = outputs[f"{name}Arn"]
        assert output["Value"] == {"Ref": name}, name
        assert output["Export"]["Name"] == {"Fn::Sub": "${AWS::StackName}-" + name + "Arn"}, name


def test_no_secret_value_appears_in_any_template(templates):
    for suffix, template in templates.items():
        for node in walk(template):
            if isinstance(node, dict):
                assert "SecretString" not in node and "MasterUserPassword" not in node, suffix
            if isinstance(node, str):
                assert "{{resolve:secretsmanager" not in node, suffix
        for name, parameter in template.get("Parameters", {}).items():
            if re.search(r"password|secret|apikey|api_key", name, re.IGNORECASE) and not name.endswith("Arn"):
                pytest.fail(f"{suffix}: parameter {name} would carry a secret")
            assert parameter.get("NoEcho") is None, f"{suffix}: {name} is a secret parameter"
        for name in template.get("Outputs", {}):
            assert "Secret" not in name or name.endswith("SecretArn"), f"{suffix}: output {name}"


# --- Stack 03: Lambdas and events -------------------------------------------------------------------


def test_every_function_runs_a_digest_pinned_image_in_the_private_subnets(templates):
    template = templates["lambda"]
    functions = resources(template, "AWS::Lambda::Function")
    assert set(functions) == {"ThumbnailFunction", "AnnotationFunction", "SweeperFunction"}
    for function in functions.values():
        properties = function["Properties"]
        assert properties["PackageType"] == "Image"
        parameter = template["Parameters"][properties["Code"]["ImageUri"]["Ref"]]
        assert "@sha256:" in parameter["AllowedPattern"] and "Default" not in parameter
        assert properties["VpcConfig"]["SubnetIds"] == [
            imported("network-PrivateSubnet1Id"),
            imported("network-PrivateSubnet2Id"),
        ]
    architecture = template["Parameters"]["LambdaArchitecture"]
    assert architecture["Default"] == "x86_64" and set(architecture["AllowedValues"]) == {"x86_64", "arm64"}
    for name, function in functions.items():
        assert function["Properties"]["Architectures"] == [{"Ref": "LambdaArchitecture"}], name


def test_time_budgets_are_the_settings_and_nest_provider_request_inside_function_timeout_inside_lease(templates):
    """One provider request per caption attempt, plus the margin the lifecycle keeps to record the outcome,
    ends inside the annotation function's timeout, which ends before the lease that lets another attempt
    take the job over; and the stacks' defaults are the code's own."""
    template = templates["lambda"]
    functions = resources(template, "AWS::Lambda::Function")
    timeouts = {name: f["Properties"]["Timeout"] for name, f in functions.items()}
    assert all(isinstance(timeout, int) for timeout in timeouts.values()), timeouts
    annotation = functions["AnnotationFunction"]["Properties"]["Environment"]["Variables"]
    budgets = {name: value["Ref"] for name, value in annotation.items() if name.endswith("_TIMEOUT_SECONDS")}
    assert budgets == {
        "GEMINI_TIMEOUT_SECONDS": "GeminiTimeoutSeconds",
        "OPENAI_TIMEOUT_SECONDS": "OpenAITimeoutSeconds",
    }
    for setting, name in budgets.items():
        budget = template["Parameters"][name]
        assert str(budget["Default"]) == SETTINGS_BY_NAME[setting].default, f"{name} and {setting} disagree"
        assert 1 <= budget["MinValue"] <= budget["Default"] <= budget["MaxValue"], name
        for value in (budget["Default"], budget["MaxValue"]):
            assert value + RECORDING_MARGIN_SECONDS < timeouts["AnnotationFunction"], (
                f"{name}={value}: a request of {value} s and {RECORDING_MARGIN_SECONDS} s to record it outlast the "
                f"annotation function's {timeouts['AnnotationFunction']} s"
            )
    for suffix in ("lambda", "web"):
        lease = templates[suffix]["Parameters"]["JobLeaseSeconds"]
        assert str(lease["Default"]) == SETTINGS_BY_NAME["JOB_LEASE_SECONDS"].default, f"{suffix}: JobLeaseSeconds"
        assert lease["MinValue"] <= lease["Default"] <= lease["MaxValue"], suffix
        assert timeouts["AnnotationFunction"] < lease["MinValue"], f"{suffix}: a lease could expire under a caption"
        assert max(timeouts.values()) < lease["MinValue"], f"{suffix}: a lease could expire under a running attempt"


def setting_parameters(templates) -> dict[tuple[str, str], str]:
    """(stack, parameter) -> the setting it stands for, read from the wiring: a function's environment
    variable set with !Ref, or a line of the web container's env file set from ${Parameter}."""
    wired: dict[tuple[str, str], set[str]] = {}
    declared = templates["lambda"]["Parameters"]
    for function in resources(templates["lambda"], "AWS::Lambda::Function").values():
        for variable, value in function["Properties"]["Environment"]["Variables"].items():
            if isinstance(value, dict) and value.get("Ref") in declared:
                wired.setdefault(("lambda", value["Ref"]), set()).add(variable)
    for variable, name in web_env_wiring(templates).items():
        if name in templates["web"]["Parameters"]:
            wired.setdefault(("web", name), set()).add(variable)
    for key, variables in wired.items():
        assert len(variables) == 1, f"{key} sets {variables}"
    return {key: variable for key, (variable,) in wired.items() if variable in SETTING_NAMES}


def test_every_parameter_that_stands_for_a_setting_defaults_to_the_settings_default(templates):
    """The stacks and annotation_core.settings cannot drift apart: a parameter passed on as a setting
    defaults to that setting's default, takes no value the setting refuses, and means the same setting in
    every stack that has it."""
    wired = setting_parameters(templates)
    caption = {"CaptionProvider", "CaptionLanguage", "GeminiModelName", "GeminiPrompt", "OpenAIModel"}
    job = {"JobLeaseSeconds", "JobMaxAttempts", "LogLevel"}
    assert {("lambda", name) for name in caption | job} <= set(wired)
    assert {("web", name) for name in caption | job} <= set(wired)
    assert {
        ("lambda", name)
        for name in (
            "GeminiTimeoutSeconds",
            "OpenAIBaseUrl",
            "OpenAITimeoutSeconds",
            "ThumbnailWidth",
            "ThumbnailHeight",
            "PreviewSize",
            "ThumbnailFormat",
            "KeepLocation",
            "TrashRetentionDays",
        )
    } <= set(wired)
    assert ("web", "MaxUploadMb") in wired
    meaning: dict[str, str] = {}
    for (suffix, name), setting_name in wired.items():
        assert meaning.setdefault(name, setting_name) == setting_name, f"{name} stands for two settings"
        parameter, setting = templates[suffix]["Parameters"][name], SETTINGS_BY_NAME[setting_name]
        assert str(parameter["Default"]) == setting.default, (
            f"{suffix}: {name} defaults to {parameter['Default']!r}, {setting_name} to {setting.default!r}"
        )
        for value in [parameter[bound] for bound in ("MinValue", "MaxValue") if bound in parameter] + list(
            parameter.get("AllowedValues", [])
        ):
            setting.parse(str(value))  # raises ValueError for a value the code would refuse at start-up


@pytest.mark.parametrize(
    ("name", "accepted", "refused"),
    [
        ("CaptionLanguage", ["en", "de", "ja", "pt-BR", "zh-Hant-TW", "gsw"], ["english", "e", "en_US", "en-", ""]),
        (
            "OpenAIBaseUrl",
            ["", "https://api.openai.com/v1", "http://10.0.0.5:11434/v1"],
            ["api.openai.com", "ftp://example.com", "https://two words"],
        ),
    ],
)
def test_patterned_settings_take_in_the_stacks_what_the_code_takes(templates, name, accepted, refused):
    for suffix in ("lambda", "web"):
        if name not in templates[suffix]["Parameters"]:
            continue
        (setting_name,) = {v for (s, n), v in setting_parameters(templates).items() if n == name}
        setting = SETTINGS_BY_NAME[setting_name]
        pattern = templates[suffix]["Parameters"][name]["AllowedPattern"]
        for value in accepted:
            assert re.fullmatch(pattern, value), f"{suffix}: {name} refuses {value!r}"
            setting.parse(value)
        for value in refused:
            assert not re.fullmatch(pattern, value), f"{suffix}: {name} takes {value!r}"


def test_the_thumbnail_function_has_the_memory_its_largest_accepted_image_needs(templates):
    """Measured with the thumbnailer on 100 MP originals (deployment/README.md, "Sizing"): WebP peaks at
    ~16 bytes per pixel (Pillow decodes it at full size, RGBA, and copies the canvas), PNG/GIF at 8-10."""
    max_pixels = int(next(setting.default for setting in SETTINGS if setting.name == "MAX_IMAGE_PIXELS"))
    mib = 2**20
    peak_bytes_per_pixel = 16
    runtime_mib = 150
    needed = max_pixels * peak_bytes_per_pixel / mib + runtime_mib
    memory = templates["lambda"]["Parameters"]["ThumbnailMemorySize"]
    assert memory["Default"] >= needed, f"{memory['Default']} MB < the ~{needed:.0f} MiB a {max_pixels:,} px WebP needs"
    assert memory["Default"] >= 1769, "one full vCPU for the seconds-long decodes"
    function = templates["lambda"]["Resources"]["ThumbnailFunction"]["Properties"]
    assert function["MemorySize"] == {"Ref": "ThumbnailMemorySize"}


def test_job_functions_reserve_concurrency_by_default_and_the_sweeper_one(templates):
    template = templates["lambda"]
    limit = template["Parameters"]["FunctionConcurrencyLimit"]
    assert limit["Default"] == 10 and limit["MinValue"] == 0
    assert template["Conditions"]["LimitConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "FunctionConcurrencyLimit"}, "0"]}]
    }
    functions = resources(template, "AWS::Lambda::Function")
    for name in ("ThumbnailFunction", "AnnotationFunction"):
        assert functions[name]["Properties"]["ReservedConcurrentExecutions"] == {
            "Fn::If": ["LimitConcurrency", {"Ref": "FunctionConcurrencyLimit"}, {"Ref": "AWS::NoValue"}]
        }, name
    assert functions["SweeperFunction"]["Properties"]["ReservedConcurrentExecutions"]["Fn::If"][1] == 1


def test_both_stacks_agree_on_the_job_and_caption_settings(templates):
    """deploy.sh passes the same value to both: a value one stack takes and the other refuses would leave
    stack 03 updated and stack 04 not, and captions the web tier's backfill would always find stale."""
    lambda_parameters, web_parameters = templates["lambda"]["Parameters"], templates["web"]["Parameters"]
    shared = set(lambda_parameters) & set(web_parameters)
    assert {
        "JobLeaseSeconds",
        "JobMaxAttempts",
        "CaptionProvider",
        "CaptionLanguage",
        "GeminiModelName",
        "GeminiPrompt",
        "OpenAIModel",
    } <= shared
    for name in shared:
        lambda_parameter = {k: v for k, v in lambda_parameters[name].items() if k != "Description"}
        web_parameter = {k: v for k, v in web_parameters[name].items() if k != "Description"}
        assert lambda_parameter == web_parameter, name
    attempts = templates["lambda"]["Parameters"]["JobMaxAttempts"]
    assert (attempts["Default"], attempts["MinValue"], attempts["MaxValue"]) == (5, 1, 20)


# Upper bounds of what each imported output can be: a region name of 14 characters, a 12-digit account,
# a StackPrefix of 40 characters, and the names RDS and Secrets Manager give (see deployment/README.md).
IMPORTED_VALUE_BOUNDS = {
    "DatabaseEndpoint": 120,
    "DatabasePort": 5,
    "DatabaseUser": 16,
    "DatabaseName": 64,
    "ImageBucketName": 63,
    "ThumbnailBucketName": 63,
}
SECRET_ARN_BOUND = 140
LAMBDA_ENVIRONMENT_LIMIT = 4096  # bytes of all keys and values together


def bytes_per_character(parameter: dict) -> int:
    """1 where the parameter's pattern refuses non-ASCII text (tried on its default), else UTF-8's 4."""
    pattern, default = parameter.get("AllowedPattern"), str(parameter.get("Default", "")) or "https://x"
    assert pattern is None or re.fullmatch(pattern, default), (pattern, default)
    return 1 if pattern and not re.fullmatch(pattern, default + "é") else 4


def test_every_function_environment_fits_lambdas_4_kb_at_its_parameters_longest(templates):
    """Lambda refuses a function whose variables total more than 4 KB: every free-text parameter has a
    MaxLength, and the sum at those lengths (and at the longest imports) still fits."""
    parameters = templates["lambda"]["Parameters"]

    def longest(value: Any) -> int:
        if isinstance(value, str):
            return len(value.encode())
        if "Ref" in value:
            parameter = parameters[value["Ref"]]
            if "AllowedValues" in parameter:
                return max(len(str(allowed)) for allowed in parameter["AllowedValues"])
            if "MaxValue" in parameter:
                return len(str(parameter["MaxValue"]))
            assert "MaxLength" in parameter, f"{value['Ref']} has no MaxLength"
            return bytes_per_character(parameter) * parameter["MaxLength"]
        output = value["Fn::ImportValue"]["Fn::Sub"].rsplit("-", 1)[1]
        return SECRET_ARN_BOUND if output.endswith("SecretArn") else IMPORTED_VALUE_BOUNDS[output]

    for name, function in resources(templates["lambda"], "AWS::Lambda::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        size = sum(len(key) + longest(value) for key, value in variables.items())
        assert size <= LAMBDA_ENVIRONMENT_LIMIT, f"{name}: up to {size} bytes of environment"


def test_function_environments_name_only_settings_and_pass_secret_arns(templates):
    functions = resources(templates["lambda"], "AWS::Lambda::Function")
    common = {
        "DB_HOST",
        "DB_PORT",
        "DB_USER",
        "DB_NAME",
        "DB_SECRET_ARN",
        "S3_IMAGE_BUCKET",
        "S3_THUMBNAIL_BUCKET",
        "LOG_LEVEL",
        "JOB_LEASE_SECONDS",
        "JOB_MAX_ATTEMPTS",
        "DATA_DIR",
    }
    expected = {
        "ThumbnailFunction": common
        | {"THUMBNAIL_WIDTH", "THUMBNAIL_HEIGHT", "PREVIEW_SIZE", "THUMBNAIL_FORMAT", "KEEP_LOCATION"},
        "AnnotationFunction": common
        | {"CAPTION_PROVIDER", "CAPTION_LANGUAGE"}
        | {"GEMINI_API_KEY_SECRET_ARN", "GEMINI_MODEL_NAME", "GEMINI_PROMPT", "GEMINI_TIMEOUT_SECONDS"}
        | {"OPENAI_API_KEY_SECRET_ARN", "OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_TIMEOUT_SECONDS"},
        # Both buckets because the settings require them on AWS; the bus it announces due jobs on.
        "SweeperFunction": common | {"EVENT_BUS_NAME", "TRASH_RETENTION_DAYS"},
    }
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert set(variables) == expected[name], name
        assert variables["JOB_MAX_ATTEMPTS"] == {"Ref": "JobMaxAttempts"}, name
        assert variables["JOB_LEASE_SECONDS"] == {"Ref": "JobLeaseSeconds"}, name
        assert set(variables) <= SETTING_NAMES, set(variables) - SETTING_NAMES
        assert not set(variables) & SECRET_VALUE_SETTINGS
    annotation = functions["AnnotationFunction"]["Properties"]["Environment"]["Variables"]
    assert annotation["GEMINI_API_KEY_SECRET_ARN"] == imported("app-GeminiApiKeySecretArn")
    assert annotation["DB_SECRET_ARN"] == imported("app-DatabaseSecretArn")
    assert annotation["OPENAI_API_KEY_SECRET_ARN"] == imported("app-OpenAIApiKeySecretArn")
    assert {name: annotation[name] for name in annotation if name.startswith(("CAPTION_", "GEMINI_", "OPENAI_"))} == {
        "CAPTION_PROVIDER": {"Ref": "CaptionProvider"},
        "CAPTION_LANGUAGE": {"Ref": "CaptionLanguage"},
        "GEMINI_API_KEY_SECRET_ARN": imported("app-GeminiApiKeySecretArn"),
        "GEMINI_MODEL_NAME": {"Ref": "GeminiModelName"},
        "GEMINI_PROMPT": {"Ref": "GeminiPrompt"},
        "GEMINI_TIMEOUT_SECONDS": {"Ref": "GeminiTimeoutSeconds"},
        "OPENAI_API_KEY_SECRET_ARN": imported("app-OpenAIApiKeySecretArn"),
        "OPENAI_BASE_URL": {"Ref": "OpenAIBaseUrl"},
        "OPENAI_MODEL": {"Ref": "OpenAIModel"},
        "OPENAI_TIMEOUT_SECONDS": {"Ref": "OpenAITimeoutSeconds"},
    }
    sweeper = functions["SweeperFunction"]["Properties"]["Environment"]["Variables"]
    assert sweeper["EVENT_BUS_NAME"] == "default"
    assert sweeper["DB_SECRET_ARN"] == imported("app-DatabaseSecretArn")
    assert sweeper["DATA_DIR"] == "/tmp/data"


def test_every_function_role_may_read_exactly_the_secrets_its_function_is_given(templates):
    """A *_SECRET_ARN the role cannot read fails at start-up (or, for an API key, quietly means "no key")."""
    template = templates["lambda"]
    for name, function in resources(template, "AWS::Lambda::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        given = [value for variable, value in variables.items() if variable.endswith("_SECRET_ARN")]
        statements = template["Resources"][f"{name}Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        readable = []
        for statement in statements:
            if "secretsmanager:GetSecretValue" in statement["Action"]:
                resource = statement["Resource"]
                readable += resource if isinstance(resource, list) else [resource]
        assert sorted(map(repr, readable)) == sorted(map(repr, given)), name
    annotation = template["Resources"]["AnnotationFunction"]["Properties"]["Environment"]["Variables"]
    assert annotation["OPENAI_API_KEY_SECRET_ARN"] == imported("app-OpenAIApiKeySecretArn")


IMAGE_BUCKET = "the-image-bucket"
JOB_FUNCTIONS = {"thumbnail": "ThumbnailFunction", "caption": "AnnotationFunction"}


def s3_object_created(key: str, bucket: str = IMAGE_BUCKET) -> dict:
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1234}},
    }


def job_due(job: str, image_id: int = 42, bucket: str | None = IMAGE_BUCKET) -> dict:
    """What the application publishes with PutEvents when a job is due (a retry, the sweeper), as delivered;
    `bucket` is the S3_IMAGE_BUCKET of the deployment that publishes it."""
    entry = job_due_entry(JobDue(image_id, Job(job), bucket), "default")
    return {"source": entry["Source"], "detail-type": entry["DetailType"], "detail": json.loads(entry["Detail"])}


def matches(pattern: dict, event: dict) -> bool:
    """EventBridge matching for the pattern forms the templates use: value lists and prefixes."""
    for key, expected in pattern.items():
        if key not in event:
            return False
        if isinstance(expected, dict):
            if not (isinstance(event[key], dict) and matches(expected, event[key])):
                return False
            continue
        value = event[key]
        if not any(
            (value.startswith(option["prefix"]) if isinstance(option, dict) else value == option) for option in expected
        ):
            return False
    return True


def rules_with_patterns(template) -> dict[str, tuple[dict, dict]]:
    """Event rules (name -> (pattern with the image bucket's name filled in, properties))."""
    bucket_import = imported("app-ImageBucketName")

    def fill(node):
        if node == bucket_import:
            return IMAGE_BUCKET
        if isinstance(node, dict):
            return {key: fill(value) for key, value in node.items()}
        if isinstance(node, list):
            return [fill(value) for value in node]
        return node

    rules = resources(template, "AWS::Events::Rule")
    return {
        n: (fill(r["Properties"]["EventPattern"]), r["Properties"])
        for n, r in rules.items()
        if "EventPattern" in r["Properties"]
    }


def invoked_functions(template, event: dict) -> list[str]:
    invoked = []
    for pattern, properties in rules_with_patterns(template).values():
        if matches(pattern, event):
            invoked += [target["Arn"]["Fn::GetAtt"][0] for target in properties["Targets"]]
    return sorted(invoked)


def test_s3_upload_events_reach_both_functions_once(templates):
    template = templates["lambda"]
    both = sorted(JOB_FUNCTIONS.values())
    assert invoked_functions(template, s3_object_created("uploads/abc.jpg")) == both
    assert invoked_functions(template, s3_object_created("thumbnails/abc.jpg")) == []
    assert invoked_functions(template, s3_object_created("uploads/abc.jpg", bucket="someone-elses")) == []
    old_retry = {**s3_object_created("uploads/abc.jpg"), "source": JOB_SOURCE}
    assert invoked_functions(template, old_retry) == [], "only S3 itself announces uploads"
    (upload_rule,) = [p for p, _ in rules_with_patterns(template).values() if p["source"] == ["aws.s3"]]
    assert upload_rule["detail"]["bucket"]["name"] == [IMAGE_BUCKET]


@pytest.mark.parametrize("job", list(JOB_FUNCTIONS))
def test_a_job_due_event_reaches_only_the_function_of_its_job(templates, job):
    template = templates["lambda"]
    assert invoked_functions(template, job_due(job)) == [JOB_FUNCTIONS[job]]
    assert invoked_functions(template, {**job_due(job), "detail-type": "Object Created"}) == []
    assert invoked_functions(template, {**job_due(job), "source": "someone.else"}) == []


def test_a_job_due_event_for_no_known_job_reaches_nothing(templates):
    unknown = {**job_due("caption"), "detail": {"image_id": 42, "job": "rendition", "bucket": IMAGE_BUCKET}}
    assert invoked_functions(templates["lambda"], unknown) == []


@pytest.mark.parametrize("job", list(JOB_FUNCTIONS))
def test_a_job_due_event_of_another_deployment_reaches_no_function_of_this_one(templates, job):
    """dev and prod share the account's default bus: each runs only the jobs that name its image bucket."""
    template = templates["lambda"]
    assert invoked_functions(template, job_due(job, bucket="the-other-deployments-bucket")) == []
    assert invoked_functions(template, job_due(job, bucket=None)) == [], "an event naming no bucket is no one's"
    for name in ("ThumbnailJobDueRule", "CaptionJobDueRule"):
        pattern = template["Resources"][name]["Properties"]["EventPattern"]
        assert pattern["detail"]["bucket"] == [imported("app-ImageBucketName")], name


def test_every_rule_target_retries_then_dead_letters_and_may_invoke_its_function(templates):
    template = templates["lambda"]
    queues = resources(template, "AWS::SQS::Queue")
    rules = resources(template, "AWS::Events::Rule")
    assert rules
    targeted = set()
    dead_lettering = set()
    for rule_name, rule in rules.items():
        properties = rule["Properties"]
        assert properties.get("EventBusName", "default") == "default", rule_name
        for target in properties["Targets"]:
            assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 0
            (dead_letter_queue, attribute) = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"]
            assert dead_letter_queue in queues and attribute == "Arn"
            dead_lettering.add(rule_name)
            targeted.add((target["Arn"]["Fn::GetAtt"][0], rule_name))
    # EventBridge may invoke each function for exactly the rules that target it.
    permissions = resources(template, "AWS::Lambda::Permission").values()
    allowed = {
        (p["Properties"]["FunctionName"]["Ref"], p["Properties"]["SourceArn"]["Fn::GetAtt"][0])
        for p in permissions
        if p["Properties"]["Principal"] == "events.amazonaws.com"
        and p["Properties"]["Action"] == "lambda:InvokeFunction"
    }
    assert allowed == targeted
    assert all(p["Properties"]["SourceArn"]["Fn::GetAtt"][1] == "Arn" for p in permissions)
    # The dead-letter queue takes messages from those rules, and only from them.
    (policy,) = resources(template, "AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert {s["Fn::GetAtt"][0] for s in sources} == dead_lettering
    assert all(s["Fn::GetAtt"][1] == "Arn" for s in sources)


def test_failed_invocations_land_in_a_queue_and_raise_alarms(templates):
    template = templates["lambda"]
    configs = {
        c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
        for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()
    }
    assert set(configs) == {"ThumbnailFunction", "AnnotationFunction", "SweeperFunction"}
    queues = resources(template, "AWS::SQS::Queue")
    for name in ("ThumbnailFunction", "AnnotationFunction"):
        destination = configs[name]["DestinationConfig"]["OnFailure"]["Destination"]
        assert destination["Fn::GetAtt"][0] in queues
        assert configs[name]["MaximumRetryAttempts"] >= 1
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    errors = {
        a["Properties"]["Dimensions"][0]["Value"]["Ref"] for a in alarms if a["Properties"]["MetricName"] == "Errors"
    }
    assert errors == {"ThumbnailFunction", "AnnotationFunction", "SweeperFunction"}
    depth = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms
        if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    assert depth == set(queues)


def test_the_sweeper_runs_every_minute_one_at_a_time_from_the_thumbnail_image(templates):
    template = templates["lambda"]
    sweeper = template["Resources"]["SweeperFunction"]["Properties"]
    assert sweeper["Code"]["ImageUri"] == {"Ref": "ThumbnailLambdaImageUri"}
    assert sweeper["ImageConfig"]["Command"] == ["lambda_functions.job_sweeper.lambda_handler"]
    assert sweeper["MemorySize"] == 256
    assert sweeper["ReservedConcurrentExecutions"] == {"Fn::If": ["LimitConcurrency", 1, {"Ref": "AWS::NoValue"}]}
    schedules = [
        r["Properties"]
        for r in resources(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    (schedule,) = schedules
    assert schedule["ScheduleExpression"] == "rate(1 minute)" and schedule["State"] == "ENABLED"
    assert [t["Arn"] for t in schedule["Targets"]] == [{"Fn::GetAtt": ["SweeperFunction", "Arn"]}]
    # Nothing but the schedule starts it; a sweep that fails or waits is dropped, the next comes anyway.
    for rule in resources(template, "AWS::Events::Rule").values():
        if rule["Properties"] is not schedule:
            assert all(t["Arn"]["Fn::GetAtt"][0] != "SweeperFunction" for t in rule["Properties"]["Targets"])
    (config,) = [
        c["Properties"]
        for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": "SweeperFunction"}
    ]
    assert config["MaximumRetryAttempts"] == 0 and config["MaximumEventAgeInSeconds"] == 60
    assert "DestinationConfig" not in config
    # A scheduled rule needs no role (EventBridge Scheduler would): no IAM resource with a lab role.
    assert not [r for r in template["Resources"].values() if r["Type"].startswith("AWS::Scheduler::")]


def test_the_sweeper_role_may_read_the_database_secret_announce_jobs_and_purge_the_trash_only(templates):
    role = templates["lambda"]["Resources"]["SweeperFunctionRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    granted = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            granted[action] = statement["Resource"]
    assert {action.split(":")[0] for action in granted} == {"logs", "ec2", "secretsmanager", "events", "s3"}
    purged = [(entry["Fn::Sub"][0], entry["Fn::Sub"][1]["Arn"]) for entry in granted["s3:DeleteObject"]]
    assert purged == [
        ("${Arn}/uploads/*", imported("app-ImageBucketArn")),
        ("${Arn}/thumbnails/*", imported("app-ThumbnailBucketArn")),
    ], "originals and renditions only: the keys the app writes"
    assert granted["secretsmanager:GetSecretValue"] == imported("app-DatabaseSecretArn")
    assert granted["events:PutEvents"]["Fn::Sub"].endswith(":event-bus/default")
    assert granted["logs:PutLogEvents"] == {"Fn::GetAtt": ["SweeperLogGroup", "Arn"]}
    assert set(granted) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
        "secretsmanager:GetSecretValue",
        "events:PutEvents",
        "s3:DeleteObject",
    }


def test_every_function_logs_to_its_own_group_which_only_its_role_may_write(templates):
    template = templates["lambda"]
    groups = set(resources(template, "AWS::Logs::LogGroup"))
    used = set()
    for name, function in resources(template, "AWS::Lambda::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert group in groups and group not in used, name
        used.add(group)
        role = template["Resources"][f"{name}Role"]["Properties"]
        (logs,) = [s for s in role["Policies"][0]["PolicyDocument"]["Statement"] if s["Sid"] == "WriteOwnLogs"]
        assert logs["Resource"] == {"Fn::GetAtt": [group, "Arn"]}, name
    assert used == groups


def test_thumbnail_role_may_write_and_undo_exactly_where_the_handler_writes(templates):
    """Put a thumbnail, and delete it again when its image was deleted meanwhile: in thumbnails/ only."""
    role = templates["lambda"]["Resources"]["ThumbnailFunctionRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    write = by_sid["WriteThumbnails"]
    assert sorted(write["Action"]) == ["s3:DeleteObject", "s3:PutObject"]
    written, variables = write["Resource"]["Fn::Sub"]
    assert variables["Arn"] == imported("app-ThumbnailBucketArn")
    for key in rendition_keys("uploads/abc.png", Settings()):
        assert key.startswith(written.removeprefix("${Arn}/").rstrip("*"))
    assert written == "${Arn}/thumbnails/*"
    # No other statement may put or delete objects anywhere.
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if {"s3:PutObject", "s3:DeleteObject", "s3:*"} & set(actions):
            assert statement is write, statement["Sid"]


# --- Roles: LabRoleArn or our own ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["lambda", "web"])
def test_roles_are_created_only_when_no_lab_role_is_given(templates, suffix):
    template = templates[suffix]
    assert template["Parameters"]["LabRoleArn"]["Default"] == ""
    assert template["Conditions"]["CreateRoles"] == {"Fn::Equals": [{"Ref": "LabRoleArn"}, ""]}
    roles = resources(template, "AWS::IAM::Role")
    assert roles
    assert {role.get("Condition") for role in roles.values()} == {"CreateRoles"}


LAB_ROLE = "arn:aws:iam::123456789012:role/LabRole"


def condition_is_true(template, expression: Any, parameters: dict[str, str]) -> bool:
    """Evaluate a condition the way CloudFormation does, for the given parameter values."""
    if isinstance(expression, dict) and len(expression) == 1:
        ((function, argument),) = expression.items()
        if function == "Condition":
            return condition_is_true(template, template["Conditions"][argument], parameters)
        if function == "Fn::Equals":
            left, right = (str(parameters[v["Ref"]]) if isinstance(v, dict) else str(v) for v in argument)
            return left == right
        if function == "Fn::Not":
            return not condition_is_true(template, argument[0], parameters)
        if function == "Fn::And":
            return all(condition_is_true(template, part, parameters) for part in argument)
        if function == "Fn::Or":
            return any(condition_is_true(template, part, parameters) for part in argument)
    raise AssertionError(f"cannot evaluate condition {expression!r}")


def default_parameters(template) -> dict[str, str]:
    return {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}


def parameter_combinations(template, **fixed: str) -> Iterator[dict[str, str]]:
    """Every combination of values that can make the template's conditions differ (`fixed` held)."""
    declared = template.get("Parameters", {})
    used = sorted(
        {n["Ref"] for n in walk(template.get("Conditions", {})) if isinstance(n, dict) and "Ref" in n} - set(fixed)
    )
    candidates = []
    for name in used:
        compared = {
            str(v)
            for n in walk(template["Conditions"])
            if isinstance(n, dict) and "Fn::Equals" in n and {"Ref": name} in n["Fn::Equals"]
            for v in n["Fn::Equals"]
            if not isinstance(v, dict)
        }
        values = compared | {str(v) for v in declared[name].get("AllowedValues", [])} | {"something-else"}
        if "Default" in declared[name]:
            values.add(str(declared[name]["Default"]))
        candidates.append(sorted(values))
    for combination in itertools.product(*candidates):
        yield {**default_parameters(template), **dict(zip(used, combination, strict=True)), **fixed}


@pytest.mark.parametrize("suffix", list(STACKS))
def test_with_a_lab_role_no_stack_creates_any_iam_resource(templates, suffix):
    """AWS Academy cannot create IAM resources: with LabRoleArn set, not one may be in any stack."""
    template = templates[suffix]
    iam = {n: r for n, r in template["Resources"].items() if r["Type"].startswith("AWS::IAM::")}
    for name, resource in iam.items():
        assert "Condition" in resource, f"{suffix}: {name} is created whatever LabRoleArn says"
        assert "LabRoleArn" in template["Parameters"], suffix
        for parameters in parameter_combinations(template, LabRoleArn=LAB_ROLE):
            condition = {"Condition": resource["Condition"]}
            assert not condition_is_true(template, condition, parameters), (suffix, name, parameters)
        # ...and without a lab role the stack does create it (the evaluation above is not vacuous).
        assert condition_is_true(template, {"Condition": resource["Condition"]}, default_parameters(template))


def test_with_a_lab_role_the_web_instances_use_the_lab_instance_profile(templates):
    template = templates["web"]
    parameter = template["Parameters"]["LabInstanceProfileName"]
    assert parameter["Default"] == "LabInstanceProfile"
    assert not re.fullmatch(parameter["AllowedPattern"], ""), "an empty name would leave the instances without a role"
    launch = template["Resources"]["WebLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    condition, created, lab = launch["IamInstanceProfile"]["Name"]["Fn::If"]
    assert created == {"Ref": "WebInstanceProfile"}
    assert template["Resources"]["WebInstanceProfile"]["Condition"] == condition
    assert lab == {"Ref": "LabInstanceProfileName"}
    with_lab_role = {**default_parameters(template), "LabRoleArn": LAB_ROLE}
    assert not condition_is_true(template, {"Condition": condition}, with_lab_role)


def test_functions_use_their_own_role_or_the_lab_role(templates):
    for name, function in resources(templates["lambda"], "AWS::Lambda::Function").items():
        assert function["Properties"]["Role"] == {
            "Fn::If": ["CreateRoles", {"Fn::GetAtt": [f"{name}Role", "Arn"]}, {"Ref": "LabRoleArn"}]
        }


def test_web_role_publishes_retries_uses_both_buckets_and_reads_its_secrets(templates):
    role = templates["web"]["Resources"]["WebInstanceRole"]["Properties"]
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["PublishRetries"]["Action"] == "events:PutEvents"
    assert statements["PublishRetries"]["Resource"]["Fn::Sub"].endswith(":event-bus/default")
    objects = statements["ReadWriteDeleteObjects"]
    assert set(objects["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    buckets = {r["Fn::Sub"][1]["Arn"]["Fn::ImportValue"]["Fn::Sub"] for r in objects["Resource"]}
    assert buckets == {"${StackPrefix}-app-ImageBucketArn", "${StackPrefix}-app-ThumbnailBucketArn"}
    assert statements["ReadSecrets"]["Resource"] == [
        imported("app-DatabaseSecretArn"),
        imported("app-FlaskSecretKeySecretArn"),
        imported("app-AdminPasswordSecretArn"),
    ]


# --- Stack 04: web tier -------------------------------------------------------------------------------


def user_data(templates) -> tuple[str, dict]:
    launch = templates["web"]["Resources"]["WebLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    script, variables = launch["UserData"]["Fn::Base64"]["Fn::Sub"]
    return script, variables


def rendered_user_data(templates, **parameters: str) -> str:
    """The boot script as CloudFormation would hand it to the instance, with placeholder values (the
    parameters' defaults unless given)."""
    script, variables = user_data(templates)
    values = {name: f"placeholder-{name}" for name in variables}
    values.update({"AWS::Region": "us-east-1", "AWS::StackName": "image-annotation-web"})
    declared = templates["web"]["Parameters"]
    values.update({name: str(declared[name].get("Default", f"param-{name}")) for name in declared})
    values["WebAppImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:" + "a" * 64
    values["WebLogGroup"] = "/image-annotation/web-app"
    assert set(parameters) <= set(declared), set(parameters) - set(declared)
    values.update(parameters)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return "${" + name[1:] + "}" if name.startswith("!") else values[name]

    return re.sub(r"\$\{([^}]+)\}", substitute, script)


def env_file_body(script: str) -> str:
    """The lines of the web container's env file, as the user data's quoted heredoc writes them."""
    return script.split("<<'SETTINGS'\n", 1)[1].split("\nSETTINGS\n", 1)[0]


def web_env_wiring(templates) -> dict[str, str]:
    """Variable of the web container's env file -> the stack 04 parameter or Fn::Sub variable it is set from."""
    script, _ = user_data(templates)
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=\$\{([\w:]+)\}$", env_file_body(script), re.MULTILINE))


def test_web_container_gets_its_settings_and_only_secret_arns(templates):
    env_file = env_file_body(rendered_user_data(templates))
    settings = dict(line.split("=", 1) for line in env_file.splitlines())
    assert set(settings) <= SETTING_NAMES | RUNTIME_VARIABLES, set(settings) - SETTING_NAMES - RUNTIME_VARIABLES
    assert not set(settings) & SECRET_VALUE_SETTINGS
    assert settings["EVENT_BUS_NAME"] == "default"
    assert settings["JOB_MAX_ATTEMPTS"] == "5" and settings["JOB_LEASE_SECONDS"] == "90"
    # What `flask captions backfill` compares stored captions with, from the parameters stack 03 has too.
    caption_settings = {
        n: p for n, p in web_env_wiring(templates).items() if n.startswith(("CAPTION_", "GEMINI_", "OPENAI_"))
    }
    assert caption_settings == {
        "CAPTION_PROVIDER": "CaptionProvider",
        "CAPTION_LANGUAGE": "CaptionLanguage",
        "GEMINI_MODEL_NAME": "GeminiModelName",
        "GEMINI_PROMPT": "GeminiPrompt",
        "OPENAI_MODEL": "OpenAIModel",
    }
    secret_arns = ("DB_SECRET_ARN", "FLASK_SECRET_KEY_SECRET_ARN", "ADMIN_PASSWORD_SECRET_ARN")
    for name in ("DB_HOST", "S3_IMAGE_BUCKET", "S3_THUMBNAIL_BUCKET", *secret_arns):
        assert settings[name].startswith("placeholder-"), name
    assert settings["PROXY_COUNT"] == "1", "the load balancer's X-Forwarded-For names the client"
    _, variables = user_data(templates)
    assert variables["DbSecretArn"] == imported("app-DatabaseSecretArn")
    assert variables["FlaskSecretKeySecretArn"] == imported("app-FlaskSecretKeySecretArn")
    assert variables["AdminPasswordSecretArn"] == imported("app-AdminPasswordSecretArn")


def test_with_a_certificate_the_app_is_told_https_only(templates):
    _, variables = user_data(templates)
    assert variables["HttpsOnly"] == {"Fn::If": ["UseHttps", "true", "false"]}
    assert "HTTPS_ONLY=${HttpsOnly}" in user_data(templates)[0]
    listener = templates["web"]["Resources"]["HttpListener"]["Properties"]["DefaultActions"][0]["Fn::If"]
    assert listener[0] == "UseHttps" and listener[1]["RedirectConfig"]["Protocol"] == "HTTPS"


def docker_env_file(text: str, strip_matching_quotes: bool) -> dict[str, str]:
    """`docker run --env-file` (docker/cli pkg/kvfile): one KEY=value a line, leading whitespace and lines
    starting with # skipped, the rest of the line taken literally - except that newer CLIs also strip one
    pair of matching quotes around a value (docker/cli#3630), hence both readings."""
    variables = {}
    for line in text.split("\n"):
        line = line.removesuffix("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        key, has_value, value = line.partition("=")
        assert key and not re.search(r"[ \t]", key), f"docker refuses the line {line!r}"
        assert has_value, f"{key} would be taken from the environment of the docker command"
        if strip_matching_quotes and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        variables[key] = value
    return variables


# Prompts an operator may well write: commas, quotes inside, shell and Fn::Sub syntax, a leading #, a
# trailing quote, backslashes, an equals sign, accents.
PROMPTS = [
    "Describe this photo factually, as a careful photo librarian would.",
    'Describe the scene; quote any sign verbatim, e.g. "EXIT", and say what\'s in it.',
    "Never run $(echo expanded) or `echo expanded`; ${HOME} and ${GeminiPrompt} are just text, as is $PATH.",
    "# not a comment: list = objects, then colours",
    '"Be brief", said the editor.',
    "Décris cette photo – précisément, en une phrase. C:\\new\\table \\n stays",
    "Ends with a quote: it's the 'subject'",
]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_caption_settings_reach_the_web_container_exactly_as_the_annotation_function_gets_them(
    templates, tmp_path, prompt
):
    """The backfill on the web tier and the function must derive the same provenance from the same values:
    the user data's quoted heredoc writes the env file, docker --env-file reads it."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash to run the user data's heredoc")
    values = {
        "CaptionProvider": "openai",
        "CaptionLanguage": "pt-BR",
        "GeminiModelName": "gemini-2.5-flash",
        "GeminiPrompt": prompt,
        "OpenAIModel": "qwen2.5vl:7b",
    }
    for name, value in values.items():
        parameter = templates["web"]["Parameters"][name]
        assert value in parameter.get("AllowedValues", [value]), name
        assert re.fullmatch(parameter.get("AllowedPattern", ".*"), value), f"stack 04 would refuse {name}={value!r}"
    script = rendered_user_data(templates, **values)
    (heredoc,) = re.findall(r"^cat > /etc/image-annotation/web\.env <<'SETTINGS'\n.*?^SETTINGS$", script, re.M | re.S)
    env_path = tmp_path / "web.env"
    command = heredoc.replace("/etc/image-annotation/web.env", str(env_path))
    result = subprocess.run([bash, "-euc", command], capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr

    function_variables = templates["lambda"]["Resources"]["AnnotationFunction"]["Properties"]["Environment"]
    function_env = {
        variable: values[value["Ref"]]
        for variable, value in function_variables["Variables"].items()
        if isinstance(value, dict) and value.get("Ref") in values
    }
    assert set(function_env) == {
        "CAPTION_PROVIDER",
        "CAPTION_LANGUAGE",
        "GEMINI_MODEL_NAME",
        "GEMINI_PROMPT",
        "OPENAI_MODEL",
    }
    function_settings = load_settings(function_env, read_dotenv=False)
    for strip_matching_quotes in (False, True):
        web_env = docker_env_file(env_path.read_text(encoding="utf-8"), strip_matching_quotes)
        assert {name: web_env[name] for name in function_env} == function_env
        # (Imported values are placeholders here; DB_PORT=placeholder-DbPort would not parse.)
        web_settings = load_settings(
            {name: value for name, value in web_env.items() if not value.startswith("placeholder-")}, read_dotenv=False
        )
        assert current_provenance(web_settings) == current_provenance(function_settings)
        assert web_settings.gemini_prompt == prompt


# Values that would not arrive intact through the env file: a line break ends the value (and could set
# another variable), and a pair of matching quotes around it is stripped by newer Docker CLIs.
MANGLED = [
    "two\nlines",
    "Describe it.\nS3_IMAGE_BUCKET=someone-elses-bucket",
    "carriage\rreturn",
    '"Describe this photo."',
    "'Describe this photo.'",
    '""',
    "''",
    "",
]


@pytest.mark.parametrize("suffix", ["lambda", "web"])
def test_the_prompt_parameter_refuses_exactly_the_values_the_env_file_would_change(templates, suffix):
    pattern = templates[suffix]["Parameters"]["GeminiPrompt"]["AllowedPattern"]
    for value in [*PROMPTS, *MANGLED, '"', "'", "x", "'tis the season", 'say "cheese"', '"a\' and b"']:
        intact = value != "" and "\n" not in value and "\r" not in value
        intact = intact and docker_env_file(f"P={value}", strip_matching_quotes=True)["P"] == value
        assert bool(re.fullmatch(pattern, value)) == intact, value
    for name in ("GeminiModelName", "OpenAIModel"):
        pattern = templates[suffix]["Parameters"][name]["AllowedPattern"]
        for model in ("gemini-3.5-flash-lite", "gpt-4o-mini", "llava:13b", "meta-llama/Llama-3.2-11B-Vision-Instruct"):
            assert re.fullmatch(pattern, model), (name, model)
        for model in ("two words", "", "gpt-4o\n", '"gpt-4o"'):
            assert not re.fullmatch(pattern, model), (name, model)


def test_web_user_data_is_valid_bash_that_installs_docker_and_runs_the_image(templates):
    script = rendered_user_data(templates)
    assert script.startswith("#!/bin/bash\n")
    for step in ("dnf install -y docker", "aws ecr get-login-password", "docker pull", "docker run", "cfn-signal"):
        assert step in script, step
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash to syntax-check the user data")
    result = subprocess.run([bash, "-n"], input=script, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


def test_auto_scaling_group_spans_both_zones_behind_a_health_checked_target_group(templates):
    template = templates["web"]
    (group,) = resources(template, "AWS::AutoScaling::AutoScalingGroup").values()
    assert group["Properties"]["VPCZoneIdentifier"] == [
        imported("network-PrivateSubnet1Id"),
        imported("network-PrivateSubnet2Id"),
    ]
    assert group["Properties"]["HealthCheckType"] == "ELB"
    (target_group,) = resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert target_group["Properties"]["HealthCheckPath"] == "/health"
    assert target_group["Properties"]["Port"] == 5000
    (policy,) = resources(template, "AWS::AutoScaling::ScalingPolicy").values()
    assert policy["Properties"]["PolicyType"] == "TargetTrackingScaling"
    (load_balancer,) = resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert load_balancer["Properties"]["Scheme"] == "internet-facing"
    assert resources(template, "AWS::ElasticLoadBalancingV2::Listener")
    assert "LoadBalancerUrl" in template["Outputs"]
    metadata = template["Resources"]["WebLaunchTemplate"]["Properties"]["LaunchTemplateData"]["MetadataOptions"]
    assert metadata["HttpTokens"] == "required" and metadata["HttpPutResponseHopLimit"] == 2
