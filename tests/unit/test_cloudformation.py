"""The CloudFormation stacks lint clean and are wired together the way the application expects.

Templates are read with cfn-lint's own YAML decoder (short tags such as `!Sub` become `Fn::Sub`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from annotation_core.events import JOB_SOURCE, OBJECT_CREATED
from annotation_core.settings import SETTINGS, Settings
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
# Read by gunicorn, boto3 or Docker rather than by annotation_core.settings.
RUNTIME_VARIABLES = {"WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "AWS_REGION", "AWS_DEFAULT_REGION"}
SECRET_VALUE_SETTINGS = {"DB_PASSWORD", "GEMINI_API_KEY", "FLASK_SECRET_KEY"}


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
    assert templates["app"]["Parameters"]["DBEngineVersion"]["Default"] == "8.0"
    assert properties["PubliclyAccessible"] is False
    assert properties["StorageEncrypted"] is True
    assert properties["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in properties
    (subnet_group,) = resources(templates["app"], "AWS::RDS::DBSubnetGroup").values()
    assert subnet_group["Properties"]["SubnetIds"] == [
        imported("network-PrivateSubnet1Id"),
        imported("network-PrivateSubnet2Id"),
    ]


def test_application_secrets_are_generated_or_filled_outside_the_template(templates):
    secrets = resources(templates["app"], "AWS::SecretsManager::Secret")
    assert set(secrets) == {"GeminiApiKeySecret", "FlaskSecretKeySecret"}
    assert "SecretString" not in secrets["GeminiApiKeySecret"]["Properties"]
    assert "GenerateSecretString" in secrets["FlaskSecretKeySecret"]["Properties"]
    outputs = templates["app"]["Outputs"]
    assert outputs["DatabaseSecretArn"]["Value"] == {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}


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


def test_both_functions_run_digest_pinned_images_in_the_private_subnets(templates):
    template = templates["lambda"]
    functions = resources(template, "AWS::Lambda::Function")
    assert set(functions) == {"ThumbnailFunction", "AnnotationFunction"}
    for function in functions.values():
        properties = function["Properties"]
        assert properties["PackageType"] == "Image"
        parameter = template["Parameters"][properties["Code"]["ImageUri"]["Ref"]]
        assert "@sha256:" in parameter["AllowedPattern"] and "Default" not in parameter
        assert properties["VpcConfig"]["SubnetIds"] == [
            imported("network-PrivateSubnet1Id"),
            imported("network-PrivateSubnet2Id"),
        ]
    assert functions["AnnotationFunction"]["Properties"]["Timeout"] == 60
    assert functions["ThumbnailFunction"]["Properties"]["Timeout"] == 30
    lease = template["Parameters"]["JobLeaseSeconds"]
    assert lease["Default"] == 90 and lease["MinValue"] > 60


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
    }
    expected = {
        "ThumbnailFunction": common | {"THUMBNAIL_WIDTH", "THUMBNAIL_HEIGHT"},
        "AnnotationFunction": common | {"GEMINI_API_KEY_SECRET_ARN", "GEMINI_MODEL_NAME", "GEMINI_PROMPT"},
    }
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert expected[name] <= set(variables), name
        assert set(variables) <= SETTING_NAMES, set(variables) - SETTING_NAMES
        assert not set(variables) & SECRET_VALUE_SETTINGS
    annotation = functions["AnnotationFunction"]["Properties"]["Environment"]["Variables"]
    assert annotation["GEMINI_API_KEY_SECRET_ARN"] == imported("app-GeminiApiKeySecretArn")
    assert annotation["DB_SECRET_ARN"] == imported("app-DatabaseSecretArn")
    assert templates["lambda"]["Parameters"]["GeminiModelName"]["Default"] == "gemini-3.5-flash-lite"


def test_rule_sends_uploads_and_retries_of_the_image_bucket_to_both_functions(templates):
    template = templates["lambda"]
    (rule_name, rule), *others = resources(template, "AWS::Events::Rule").items()
    assert not others
    properties = rule["Properties"]
    assert properties["EventBusName"] == "default"
    assert properties["EventPattern"] == {
        "source": ["aws.s3", JOB_SOURCE],
        "detail-type": [OBJECT_CREATED],
        "detail": {
            "bucket": {"name": [imported("app-ImageBucketName")]},
            "object": {"key": [{"prefix": "uploads/"}]},
        },
    }
    targets = {target["Arn"]["Fn::GetAtt"][0]: target for target in properties["Targets"]}
    assert set(targets) == {"ThumbnailFunction", "AnnotationFunction"}
    queues = resources(template, "AWS::SQS::Queue")
    for target in targets.values():
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        (dead_letter_queue, attribute) = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"]
        assert dead_letter_queue in queues and attribute == "Arn"
    (policy,) = resources(template, "AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [rule_name, "Arn"]}
    permissions = resources(template, "AWS::Lambda::Permission").values()
    allowed = {
        p["Properties"]["FunctionName"]["Ref"]
        for p in permissions
        if p["Properties"]["Principal"] == "events.amazonaws.com"
        and p["Properties"]["SourceArn"] == {"Fn::GetAtt": [rule_name, "Arn"]}
        and p["Properties"]["Action"] == "lambda:InvokeFunction"
    }
    assert allowed == set(targets)


def test_failed_invocations_land_in_a_queue_and_raise_alarms(templates):
    template = templates["lambda"]
    configs = resources(template, "AWS::Lambda::EventInvokeConfig").values()
    assert {c["Properties"]["FunctionName"]["Ref"] for c in configs} == {"ThumbnailFunction", "AnnotationFunction"}
    queues = resources(template, "AWS::SQS::Queue")
    for config in configs:
        destination = config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
        assert destination["Fn::GetAtt"][0] in queues
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    errors = {
        a["Properties"]["Dimensions"][0]["Value"]["Ref"] for a in alarms if a["Properties"]["MetricName"] == "Errors"
    }
    assert errors == {"ThumbnailFunction", "AnnotationFunction"}
    depth = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms
        if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    assert depth == set(queues)


def test_thumbnail_role_may_write_exactly_where_the_handler_writes(templates):
    role = templates["lambda"]["Resources"]["ThumbnailFunctionRole"]["Properties"]
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"]}
    written = statements["WriteThumbnails"]["Resource"]["Fn::Sub"][0]
    for key in rendition_keys("uploads/abc.png", Settings()):
        assert key.startswith(written.removeprefix("${Arn}/").rstrip("*"))
    # Renditions of older settings are removed when new ones replace them (and undone when a job loses its image).
    assert set(statements["WriteThumbnails"]["Action"]) == {"s3:PutObject", "s3:DeleteObject"}


# --- Roles: LabRoleArn or our own ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["lambda", "web"])
def test_roles_are_created_only_when_no_lab_role_is_given(templates, suffix):
    template = templates[suffix]
    assert template["Parameters"]["LabRoleArn"]["Default"] == ""
    assert template["Conditions"]["CreateRoles"] == {"Fn::Equals": [{"Ref": "LabRoleArn"}, ""]}
    roles = resources(template, "AWS::IAM::Role")
    assert roles
    assert {role.get("Condition") for role in roles.values()} == {"CreateRoles"}


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
    ]


# --- Stack 04: web tier -------------------------------------------------------------------------------


def user_data(templates) -> tuple[str, dict]:
    launch = templates["web"]["Resources"]["WebLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    script, variables = launch["UserData"]["Fn::Base64"]["Fn::Sub"]
    return script, variables


def rendered_user_data(templates) -> str:
    """The boot script as CloudFormation would hand it to the instance, with placeholder values."""
    script, variables = user_data(templates)
    values = {name: f"placeholder-{name}" for name in variables}
    values.update({"AWS::Region": "us-east-1", "AWS::StackName": "image-annotation-web"})
    parameters = templates["web"]["Parameters"]
    values.update({name: str(parameters[name].get("Default", f"param-{name}")) for name in parameters})
    values["WebAppImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:" + "a" * 64
    values["WebLogGroup"] = "/image-annotation/web-app"

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return "${" + name[1:] + "}" if name.startswith("!") else values[name]

    return re.sub(r"\$\{([^}]+)\}", substitute, script)


def test_web_container_gets_its_settings_and_only_secret_arns(templates):
    env_file = rendered_user_data(templates).split("<<'SETTINGS'\n", 1)[1].split("\nSETTINGS\n", 1)[0]
    settings = dict(line.split("=", 1) for line in env_file.splitlines())
    assert set(settings) <= SETTING_NAMES | RUNTIME_VARIABLES, set(settings) - SETTING_NAMES - RUNTIME_VARIABLES
    assert not set(settings) & SECRET_VALUE_SETTINGS
    assert settings["EVENT_BUS_NAME"] == "default"
    for name in ("DB_HOST", "DB_SECRET_ARN", "S3_IMAGE_BUCKET", "S3_THUMBNAIL_BUCKET", "FLASK_SECRET_KEY_SECRET_ARN"):
        assert settings[name].startswith("placeholder-"), name
    _, variables = user_data(templates)
    assert variables["DbSecretArn"] == imported("app-DatabaseSecretArn")
    assert variables["FlaskSecretKeySecretArn"] == imported("app-FlaskSecretKeySecretArn")


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
