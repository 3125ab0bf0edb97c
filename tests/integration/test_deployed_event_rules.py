"""Stack 03's event rules, loaded into moto's EventBridge: which events reach which function.

Each rule of the template is created on moto's default bus with its own EventPattern (the imported bucket
name filled in); each function it targets is stood in for by an SQS queue. Events are then put as S3 and
the application put them, and the queues show what each function would have been invoked with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from cfnlint.decode import cfn_yaml
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "image-annotation-app-imagebucket-0123456789"
BUCKET_IMPORT = {"Fn::ImportValue": {"Fn::Sub": "${StackPrefix}-app-ImageBucketName"}}
# What the web app's retry and the sweeper put on the bus when a job is due again.
JOB_DUE = {"Source": "image-annotation.retry", "DetailType": "Image Job Due"}


def fill_bucket(node):
    if node == BUCKET_IMPORT:
        return BUCKET
    if isinstance(node, dict):
        return {key: fill_bucket(value) for key, value in node.items()}
    if isinstance(node, list):
        return [fill_bucket(value) for value in node]
    return node


@pytest.fixture
def functions(aws_env) -> Iterator[tuple]:
    """moto EventBridge holding the stack's pattern rules; one SQS queue per targeted function."""
    template = cfn_yaml.load(str(ROOT / "deployment" / "03-lambda-stack.yaml"))
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queues: dict[str, str] = {}
        for name, resource in template["Resources"].items():
            properties = resource["Properties"]
            if resource["Type"] != "AWS::Events::Rule" or "EventPattern" not in properties:
                continue
            events.put_rule(
                Name=name,
                EventBusName="default",
                EventPattern=json.dumps(fill_bucket(properties["EventPattern"])),
                State="ENABLED",
            )
            for target in properties["Targets"]:
                function = target["Arn"]["Fn::GetAtt"][0]
                if function not in queues:
                    queues[function] = sqs.create_queue(QueueName=function)["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=queues[function], AttributeNames=["QueueArn"])
                events.put_targets(
                    Rule=name,
                    EventBusName="default",
                    Targets=[{"Id": target["Id"], "Arn": arn["Attributes"]["QueueArn"]}],
                )
        yield events, sqs, queues


def deliveries(sqs, queues: dict[str, str]) -> dict[str, list[dict]]:
    """What each function was sent since the last look."""
    delivered = {}
    for function, url in queues.items():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        delivered[function] = [json.loads(message["Body"]) for message in messages]
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return delivered


def put(events, **entry) -> None:
    response = events.put_events(Entries=[{"EventBusName": "default", **entry}])
    assert response["FailedEntryCount"] == 0, response


def s3_object_created(key: str, bucket: str = BUCKET) -> dict:
    return {
        "Source": "aws.s3",
        "DetailType": "Object Created",
        "Resources": [f"arn:aws:s3:::{bucket}"],
        "Detail": json.dumps({"version": "0", "bucket": {"name": bucket}, "object": {"key": key, "size": 5}}),
    }


def test_an_upload_reaches_both_functions_once(functions):
    events, sqs, queues = functions
    assert set(queues) == {"ThumbnailFunction", "AnnotationFunction"}
    put(events, **s3_object_created("uploads/0123456789abcdef.jpg"))
    delivered = deliveries(sqs, queues)
    for function in ("ThumbnailFunction", "AnnotationFunction"):
        (event,) = delivered[function]
        assert event["detail"]["object"]["key"] == "uploads/0123456789abcdef.jpg", function


def test_objects_that_are_not_new_originals_of_our_bucket_reach_nothing(functions):
    events, sqs, queues = functions
    put(events, **s3_object_created("thumbnails/0123456789abcdef.jpg"))
    put(events, **s3_object_created("uploads/0123456789abcdef.jpg", bucket="someone-elses-bucket"))
    assert deliveries(sqs, queues) == {"ThumbnailFunction": [], "AnnotationFunction": []}


@pytest.mark.parametrize(("job", "function"), [("thumbnail", "ThumbnailFunction"), ("caption", "AnnotationFunction")])
def test_a_job_due_again_reaches_only_the_function_of_its_job(functions, job, function):
    events, sqs, queues = functions
    put(events, **JOB_DUE, Detail=json.dumps({"image_id": 42, "job": job, "bucket": BUCKET}))
    delivered = deliveries(sqs, queues)
    (event,) = delivered.pop(function)
    assert event["detail"] == {"image_id": 42, "job": job, "bucket": BUCKET}
    assert event["source"] == JOB_DUE["Source"] and event["detail-type"] == JOB_DUE["DetailType"]
    assert delivered == {other: [] for other in delivered}, "the other function must not run"


@pytest.mark.parametrize("job", ["thumbnail", "caption"])
def test_job_events_of_another_deployment_or_of_none_reach_nothing(functions, job):
    """Copies of the stacks (dev, prod) share the default bus; each job event names its deployment's bucket."""
    events, sqs, queues = functions
    put(events, **JOB_DUE, Detail=json.dumps({"image_id": 42, "job": job, "bucket": "another-deployments-bucket"}))
    put(events, **JOB_DUE, Detail=json.dumps({"image_id": 42, "job": job}))
    assert deliveries(sqs, queues) == {"ThumbnailFunction": [], "AnnotationFunction": []}


def test_job_events_of_other_shapes_reach_nothing(functions):
    events, sqs, queues = functions
    put(events, **JOB_DUE, Detail=json.dumps({"image_id": 42, "job": "rendition", "bucket": BUCKET}))
    put(
        events,
        Source="someone.else",
        DetailType="Image Job Due",
        Detail=json.dumps({"image_id": 1, "job": "caption", "bucket": BUCKET}),
    )
    # The retry shape of old (an "Object Created" from the app) is no longer routed anywhere.
    put(events, **{**s3_object_created("uploads/0123456789abcdef.jpg"), "Source": "image-annotation.retry"})
    assert deliveries(sqs, queues) == {"ThumbnailFunction": [], "AnnotationFunction": []}
