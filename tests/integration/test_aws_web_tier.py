"""The web tier with its AWS adapters: retries published to EventBridge reach the Lambdas through the
same rule as S3's own events, and the links it hands out are presigned URLs that S3 (moto's server) serves."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from moto import mock_aws

from annotation_core.bootstrap import Services, bootstrap
from annotation_core.events import DETAIL_TYPE, RETRY_SOURCE, ObjectCreated, eventbridge_event
from annotation_core.image_actions import retry_image
from annotation_core.settings import Settings
from annotation_core.uploads import check_upload, store_upload
from lambda_functions.annotation_lambda import lambda_function as annotation
from lambda_functions.thumbnail_lambda import lambda_function as thumbnail
from tests import images

ORIGINALS, THUMBNAILS = "originals-test", "thumbnails-test"


def aws_services(engine, **settings) -> Services:
    return bootstrap(Settings(s3_image_bucket=ORIGINALS, s3_thumbnail_bucket=THUMBNAILS, **settings), engine=engine)


def create_buckets() -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ORIGINALS)
    s3.create_bucket(Bucket=THUMBNAILS)


def upload_rule_target_queue() -> str:
    """The rule stack 03 creates, with an SQS queue standing in for the two Lambda targets."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue_url = sqs.create_queue(QueueName="lambda-targets")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.s3", RETRY_SOURCE],
        "detail-type": [DETAIL_TYPE],
        "detail": {"bucket": {"name": [ORIGINALS]}, "object": {"key": [{"prefix": "uploads/"}]}},
    }
    events.put_rule(Name="image-uploaded", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="image-uploaded", Targets=[{"Id": "lambdas", "Arn": queue_arn}])
    return queue_url


def test_retry_is_published_to_eventbridge_and_matched_by_the_upload_rule(aws_env, engine, fake_gemini):
    with mock_aws():
        create_buckets()
        queue_url = upload_rule_target_queue()
        web = aws_services(engine, event_bus_name="default")
        worker = aws_services(engine, gemini_api_key="key", gemini_base_url=fake_gemini.base_url)
        record = store_upload(web, check_upload(web, "photo.jpg", images.jpeg())).record
        fake_gemini.respond_with(403)
        upload_event = eventbridge_event(ObjectCreated(ORIGINALS, record.original_key))
        assert annotation.handle(upload_event, worker) == {"failed": 1}

        _, reset = retry_image(web, record.id)

        assert reset == ["caption"]
        [message] = boto3.client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
        retried = json.loads(message["Body"])
        assert retried["source"] == RETRY_SOURCE
        assert annotation.handle(retried, worker) == {"completed": 1}
        row = web.repository.get(record.id)
        assert (row.caption_status, row.caption_attempts) == ("completed", 2)


def test_web_app_on_s3_links_presigned_urls_that_serve_the_objects(moto_server, monkeypatch, engine):
    from web_app.app import create_app

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    create_buckets()
    services = aws_services(engine, flask_secret_key="shared-by-all-instances")
    app = create_app(services=services)
    assert "local_worker" not in app.extensions  # on AWS the Lambdas do the work
    original = images.jpeg((300, 200))
    record = store_upload(services, check_upload(services, "photo.jpg", original)).record
    thumbnail.handle(eventbridge_event(ObjectCreated(ORIGINALS, record.original_key)), services)

    status = app.test_client().get(f"/api/image_status/{record.id}").get_json()

    fetched = {}
    for name in ("original_url", "thumbnail_url"):
        assert "X-Amz-Signature=" in status[name]
        with urllib.request.urlopen(status[name], timeout=10) as response:
            assert response.headers["Content-Type"] == "image/jpeg"
            fetched[name] = response.read()
    assert fetched["original_url"] == original
    assert fetched["thumbnail_url"][:2] == b"\xff\xd8"


def test_web_app_on_aws_refuses_to_start_without_a_shared_secret_key(aws_env, engine):
    from annotation_core.errors import ConfigurationError
    from web_app.app import create_app

    with pytest.raises(ConfigurationError, match="FLASK_SECRET_KEY"):
        create_app(services=aws_services(engine))
