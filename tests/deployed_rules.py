"""The EventBridge rules stack 03 deploys, read from the template, for tests that run them on moto."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import yaml

from annotation_core.events import JOB_SOURCE
from annotation_core.records import Job

TEMPLATE = Path(__file__).resolve().parents[1] / "deployment" / "03-lambda-stack.yaml"
# How the template names its image bucket in a pattern: the name stack 02 exports.
_BUCKET_IMPORT = [{"Fn::ImportValue": {"Sub": "${StackPrefix}-app-ImageBucketName"}}]


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML, keeping short-form intrinsics (!Ref, !Sub, ...) as plain values."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, tag, node: {
        tag: loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
    },
)


def _patterns() -> list[dict]:
    template = yaml.load(TEMPLATE.read_text(encoding="utf-8"), _CfnLoader)
    return [
        json.loads(json.dumps(resource["Properties"]["EventPattern"]))
        for resource in template["Resources"].values()
        if resource.get("Type") == "AWS::Events::Rule" and "EventPattern" in resource["Properties"]
    ]


def upload_rule_pattern(bucket: str) -> dict:
    """The rule that sends S3's "Object Created" under uploads/ to both functions, for `bucket`."""
    [pattern] = [pattern for pattern in _patterns() if "aws.s3" in pattern.get("source", [])]
    assert pattern["detail"]["bucket"]["name"] == _BUCKET_IMPORT, "the upload rule matches its own bucket only"
    pattern["detail"]["bucket"]["name"] = [bucket]
    return pattern


def job_rule_patterns(bucket: str) -> dict[Job, dict]:
    """The rules that send "Image Job Due" events of the deployment of `bucket` to the function of their job."""
    rules = [pattern for pattern in _patterns() if JOB_SOURCE in pattern.get("source", [])]
    for pattern in rules:
        assert pattern["detail"].get("bucket") == _BUCKET_IMPORT, "a job rule matches its own deployment's jobs only"
        pattern["detail"]["bucket"] = [bucket]
    by_job = {Job(job): pattern for pattern in rules for job in pattern["detail"]["job"]}
    assert len(by_job) == len(rules) == len(Job), "one job rule per job"
    return by_job


def caption_rule_queue(bucket: str) -> str:
    """Stack 03's caption job rule for `bucket` on moto's default bus, with an SQS queue standing in for the
    annotation Lambda; the queue's URL."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue_url = sqs.create_queue(QueueName="annotation-function")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="caption-jobs", EventPattern=json.dumps(job_rule_patterns(bucket)[Job.CAPTION]))
    events.put_targets(Rule="caption-jobs", Targets=[{"Id": "annotation", "Arn": queue_arn}])
    return queue_url
