"""Crashes with jobs in flight: the power cut on a `make run` server (SIGKILL to gunicorn, its web workers and
the job worker at once), and a Lambda invocation killed between its claim and its result. After a restart,
or the sweeper's next round, every job finishes, and none is done twice: the attempt counts, the calls the
fake Gemini received and the renditions' write times show it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import boto3
import pytest

from annotation_core.bootstrap import bootstrap, lambda_services
from annotation_core.records import Job, JobState
from annotation_core.settings import Settings
from annotation_core.uploads import check_upload, store_upload
from benchmarks.app_server import ROOT, AppServer
from benchmarks.load_audit import audit, wait_until_settled
from benchmarks.load_photos import make_originals, plan
from benchmarks.loadtest import (
    Client,
    Outcomes,
    create_token,
    database_environment,
    database_settings,
    mysql_database,
)
from conftest import ADMIN_PASSWORD, MYSQL_URL
from lambda_functions import job_sweeper
from lambda_functions.annotation_lambda import lambda_function as annotation
from tests import images
from tests.deployed_rules import caption_rule_queue

# Short, so the test need not wait long for the leases the crash left behind; 5 s of it are kept to record
# the outcome, and the rest must fit a caption on a busy machine (or the attempt is retried, not crashed).
LEASE_SECONDS = 15
UPLOADS = 6


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def test_the_whole_server_killed_with_jobs_in_flight_finishes_every_job_once_after_a_restart(
    tmp_path, fake_gemini, database, request
):
    url = None
    if database == "mysql":
        request.getfixturevalue("mysql_engine")  # skips (or fails in CI) without TEST_MYSQL_URL
        url = mysql_database(MYSQL_URL, "_crash")
    data = tmp_path / "data"
    environment = {
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "GEMINI_API_KEY": "key",
        "GEMINI_BASE_URL": fake_gemini.base_url,
        "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "LOG_LEVEL": "WARNING",
        **database_environment(url),
    }
    fake_gemini.delay_seconds = 1.5  # captions are being written when the power goes
    server = AppServer(data, environment).start()
    services = bootstrap(Settings(data_dir=str(data), **database_settings(url)))
    try:
        outcomes = Outcomes()
        client = Client(server.url, create_token(server.url, ADMIN_PASSWORD))
        for number, original in enumerate(plan(make_originals(quick=True), UPLOADS)):
            client.upload(number, original, outcomes)
        client.close()
        assert len(outcomes.accepted) == UPLOADS, outcomes.errors
        wait_for(lambda: fake_gemini.requests)  # at least one caption is waiting for its answer

        server.kill()
        killed_at = time.time()
        at_kill = {record.id: record for record in services.repository.find_many(list(outcomes.accepted))}
        calls_before = len(fake_gemini.requests)
        fake_gemini.delay_seconds = 0.0
        server = AppServer(data, environment, port=server.port).start()  # `make run` again

        assert wait_until_settled(services, list(outcomes.accepted), timeout=LEASE_SECONDS * 4)
        found = audit(services, outcomes.accepted)
        after = {record.id: record for record in services.repository.find_many(list(outcomes.accepted))}
        log = "".join(line for line in server.output if "WARNING" in line or "ERROR" in line)
    finally:
        server.stop()
        services.close()

    assert found.problems == [] and found.lost == 0
    assert found.temporary_files == 0, "half-written objects of the killed processes are cleaned up"
    in_flight = {job: {i for i, r in at_kill.items() if r.job_state(job) is JobState.PROCESSING} for job in Job}
    assert any(in_flight.values()), "the kill hit no job in flight"
    for image_id, record in after.items():
        for job in Job:
            expected = 2 if image_id in in_flight[job] else 1  # only a job the crash interrupted runs again
            assert record.progress(job).attempts == expected, (image_id, job, log)
    captions_redone = len(in_flight[Job.CAPTION])
    assert calls_before <= len(fake_gemini.requests) <= UPLOADS + captions_redone
    for image_id, record in at_kill.items():
        if record.thumbnail_status is JobState.COMPLETED:  # finished before the crash: never written again
            for key in (record.thumbnail_key, record.preview_key):
                assert (data / "thumbnails" / key).stat().st_mtime < killed_at, (image_id, key)


ORIGINALS, THUMBNAILS = "originals-crash", "thumbnails-crash"
INVOKE = """
import json, sys
from lambda_functions.annotation_lambda.lambda_function import lambda_handler

class Context:
    def get_remaining_time_in_millis(self):
        return 60_000

print(lambda_handler(json.loads(sys.argv[1]), Context()))
"""


@pytest.fixture
def lambda_environment(moto_server, monkeypatch, tmp_path, fake_gemini):
    """Stack 03's environment for the functions, on moto's server (shared with a subprocess) and SQLite."""
    values = {
        "AWS_ENDPOINT_URL": moto_server,
        "DATA_DIR": str(tmp_path / "data"),
        "S3_IMAGE_BUCKET": ORIGINALS,
        "S3_THUMBNAIL_BUCKET": THUMBNAILS,
        "GEMINI_API_KEY": "lambda-key",
        "GEMINI_BASE_URL": fake_gemini.base_url,
        "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "EVENT_BUS_NAME": "default",
        "LOG_LEVEL": "WARNING",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3")
    for bucket in (ORIGINALS, THUMBNAILS):
        s3.create_bucket(Bucket=bucket)
    lambda_services.cache_clear()
    yield values
    annotation.provider_for_settings(lambda_services().settings).close()  # its keep-alive connections
    annotation.provider_for_settings.cache_clear()
    lambda_services().close()
    lambda_services.cache_clear()


def test_a_lambda_killed_between_claim_and_result_is_recovered_by_the_sweeper(
    lambda_environment, fake_gemini, lambda_context
):
    queue = caption_rule_queue(ORIGINALS)
    web = bootstrap(Settings(data_dir=lambda_environment["DATA_DIR"], s3_image_bucket=ORIGINALS), migrate=True)
    record = store_upload(web, check_upload(web, "photo.jpg", images.jpeg((400, 300)))).record
    event = {
        "Records": [
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": ORIGINALS}, "object": {"key": record.original_key}}}
        ]
    }
    fake_gemini.delay_seconds = 60.0  # the invocation is inside its provider call when it dies
    invocation = subprocess.Popen(
        [sys.executable, "-c", INVOKE, json.dumps(event)], env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        wait_for(lambda: fake_gemini.requests)
    finally:
        invocation.send_signal(signal.SIGKILL)  # out of memory, or its timeout: no result recorded
        invocation.wait()
    fake_gemini.delay_seconds = 0.0
    claimed = web.repository.get(record.id)
    assert (claimed.caption_status, claimed.caption_attempts) == ("processing", 1)

    assert job_sweeper.lambda_handler({}, lambda_context)["caption"] == 0, "its lease still holds"
    # Once the lease has run out, the sweeper's next round (every minute on AWS) announces the job again.
    wait_for(lambda: job_sweeper.lambda_handler({}, lambda_context)["caption"] == 1, timeout=LEASE_SECONDS + 5)

    [message] = boto3.client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert annotation.lambda_handler(json.loads(message["Body"]), lambda_context) == {"completed": 1}
    row = web.repository.get(record.id)
    assert (row.caption_status, row.caption_attempts, len(fake_gemini.requests)) == ("completed", 2, 2)
    web.close()
