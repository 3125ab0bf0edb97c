"""The web tier with its AWS adapters: retries published to EventBridge reach the right Lambda through stack
03's job rules, and the links it hands out are presigned URLs that S3 (moto's server) serves, stable for a while."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from moto import mock_aws

from annotation_core.bootstrap import Services, bootstrap
from annotation_core.events import JOB_SOURCE, JobDue, ObjectCreated
from annotation_core.image_actions import retry_image
from annotation_core.lifecycle import lease_deadline
from annotation_core.records import Job
from annotation_core.settings import Settings
from annotation_core.uploads import check_upload, store_upload
from conftest import ADMIN_PASSWORD, FAST_HASHING
from lambda_functions.annotation_lambda import lambda_function as annotation
from lambda_functions.thumbnail_lambda import lambda_function as thumbnail
from tests import images
from tests.deployed_rules import caption_rule_queue
from tests.web_client import sign_in

ORIGINALS, THUMBNAILS = "originals-test", "thumbnails-test"


def aws_services(engine, **settings) -> Services:
    return bootstrap(Settings(s3_image_bucket=ORIGINALS, s3_thumbnail_bucket=THUMBNAILS, **settings), engine=engine)


def create_buckets() -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ORIGINALS)
    s3.create_bucket(Bucket=THUMBNAILS)


def run_job(services: Services, job: Job, target) -> str:
    """Run a job as its Lambda would, with these services (its handler reads them from the environment)."""
    work = (annotation.caption_work if job is Job.CAPTION else thumbnail.thumbnail_work)(services)
    return services.runner().run(target, job, work, lease_deadline(90))


def test_retry_is_published_to_eventbridge_and_reaches_the_caption_function(aws_env, engine, fake_gemini):
    with mock_aws():
        create_buckets()
        queue_url = caption_rule_queue(ORIGINALS)
        web = aws_services(engine, event_bus_name="default")
        worker = aws_services(engine, gemini_api_key="key", gemini_base_url=fake_gemini.base_url)
        record = store_upload(web, check_upload(web, "photo.jpg", images.jpeg())).record
        fake_gemini.respond_with(403)
        assert run_job(worker, Job.CAPTION, ObjectCreated(ORIGINALS, record.original_key)) == "failed"

        _, reset = retry_image(web, record.id)

        assert reset == ["caption"]
        [message] = boto3.client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
        retried = json.loads(message["Body"])
        assert retried["source"] == JOB_SOURCE
        assert run_job(worker, Job.CAPTION, JobDue(record.id, Job.CAPTION)) == "completed"
        row = web.repository.get(record.id)
        assert (row.caption_status, row.caption_attempts) == ("completed", 1)


def test_web_app_on_s3_links_presigned_urls_that_serve_the_objects(moto_server, monkeypatch, engine):
    from web_app.app import create_app

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    create_buckets()
    services = aws_services(
        engine, flask_secret_key="shared-by-all-instances", admin_password=ADMIN_PASSWORD, **FAST_HASHING
    )
    app = create_app(services=services)
    assert app.extensions["local_worker"] is None  # on AWS the Lambdas do the work
    original = images.jpeg((300, 200))
    record = store_upload(services, check_upload(services, "photo.jpg", original)).record
    assert run_job(services, Job.THUMBNAIL, ObjectCreated(ORIGINALS, record.original_key)) == "completed"

    status = sign_in(app.test_client(), "admin", ADMIN_PASSWORD).get(f"/api/image_status/{record.id}").get_json()
    again = sign_in(app.test_client(), "admin", ADMIN_PASSWORD).get(f"/api/image_status/{record.id}").get_json()
    assert again["thumbnail_url"] == status["thumbnail_url"], "the same link for a while: the browser's cache works"

    fetched = {}
    types = {"original_url": "image/jpeg", "thumbnail_url": "image/webp", "preview_url": "image/webp"}
    for name, content_type in types.items():
        assert "X-Amz-Signature=" in status[name]
        with urllib.request.urlopen(status[name], timeout=10) as response:
            assert response.headers["Content-Type"] == content_type
            fetched[name] = response.read()
            if name != "original_url":  # renditions are cached for long: their keys change when they do
                assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert fetched["original_url"] == original
    assert fetched["thumbnail_url"][8:12] == fetched["preview_url"][8:12] == b"WEBP"


def test_web_app_on_aws_refuses_to_start_without_a_shared_secret_key(aws_env, engine):
    from annotation_core.errors import ConfigurationError
    from web_app.app import create_app

    with pytest.raises(ConfigurationError, match="FLASK_SECRET_KEY"):
        create_app(services=aws_services(engine))
