"""Both Lambda handlers and the sweeper as AWS runs them: settings from the environment, real-shaped events,
moto's S3 and EventBridge, a real database, Gemini through the real SDK against the fake server, JSON logs."""

from __future__ import annotations

import copy
import json
import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote_plus

import boto3
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from PIL import Image

from annotation_core import allocator
from annotation_core.bootstrap import Services, bootstrap, lambda_services
from annotation_core.events import JobDue, job_due_entry
from annotation_core.job_store import utcnow
from annotation_core.records import Job
from annotation_core.schema import images as table
from annotation_core.settings import Settings
from annotation_core.uploads import check_upload, store_upload
from lambda_functions import job_sweeper
from lambda_functions.annotation_lambda import lambda_function as annotation
from lambda_functions.thumbnail_lambda import lambda_function as thumbnail
from tests import images
from tests.hostile import mangled_events

EVENTS = Path(__file__).resolve().parents[1] / "events"
ORIGINALS, THUMBNAILS = "originals-test", "thumbnails-test"


@pytest.fixture
def lambda_env(monkeypatch, aws_env, engine, tmp_path, fake_gemini):
    """The environment stack 03 gives the functions, pointed at this test's database and fakes."""
    url = engine.url
    if url.get_backend_name() == "mysql":
        monkeypatch.setenv("DB_HOST", url.host)
        monkeypatch.setenv("DB_PORT", str(url.port or 3306))
        monkeypatch.setenv("DB_USER", url.username)
        monkeypatch.setenv("DB_NAME", url.database)
    else:
        monkeypatch.setenv("DATA_DIR", str(Path(url.database).parent))
        monkeypatch.delenv("DB_HOST", raising=False)
    monkeypatch.setenv("S3_IMAGE_BUCKET", ORIGINALS)
    monkeypatch.setenv("S3_THUMBNAIL_BUCKET", THUMBNAILS)
    monkeypatch.setenv("THUMBNAIL_WIDTH", "100")
    monkeypatch.setenv("THUMBNAIL_HEIGHT", "100")
    monkeypatch.setenv("GEMINI_API_KEY", "lambda-key")
    monkeypatch.setenv("GEMINI_BASE_URL", fake_gemini.base_url)
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    monkeypatch.setenv("EVENT_BUS_NAME", "default")  # the sweeper's setting; the job functions ignore it
    monkeypatch.setenv("JOB_RETRY_BASE_SECONDS", "10")
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=ORIGINALS)
        s3.create_bucket(Bucket=THUMBNAILS)
        lambda_services.cache_clear()
        yield s3
        lambda_services.cache_clear()
    root.handlers, root.level = saved


@pytest.fixture
def web(lambda_env, engine) -> Services:
    """The web tier's services on the same bucket and database (used to upload, as users do)."""
    settings = Settings(s3_image_bucket=ORIGINALS, s3_thumbnail_bucket=THUMBNAILS)
    return bootstrap(settings, engine=engine)


def uploaded(web: Services, data: bytes = None, name: str = "photo.jpg"):
    return store_upload(web, check_upload(web, name, data or images.jpeg((400, 200)))).record


def eventbridge_event(key: str) -> dict:
    event = json.loads((EVENTS / "eventbridge_object_created.json").read_text())
    event["resources"] = [f"arn:aws:s3:::{ORIGINALS}"]
    event["detail"]["bucket"]["name"] = ORIGINALS
    event["detail"]["object"]["key"] = key
    return event


def job_due_event(image_id: int, job: Job) -> dict:
    """A job event as EventBridge delivers the sweeper's or a retry's PutEvents entry."""
    entry = job_due_entry(JobDue(image_id, job), "default")
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2026-11-29T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": json.loads(entry["Detail"]),
    }


def s3_notification(key: str) -> dict:
    event = json.loads((EVENTS / "s3_notification.json").read_text())
    record = copy.deepcopy(event["Records"][0])
    record["s3"]["bucket"]["name"] = ORIGINALS
    record["s3"]["object"]["key"] = quote_plus(key)
    return {"Records": [record]}


def test_thumbnail_lambda_on_eventbridge_event(web, lambda_env, lambda_context):
    record = uploaded(web)

    summary = thumbnail.lambda_handler(eventbridge_event(record.original_key), lambda_context)

    assert summary == {"completed": 1}
    row = web.repository.get(record.id)
    assert row.thumbnail_status == "completed"
    assert row.caption_status == "pending"  # the other Lambda's columns are untouched
    stored = lambda_env.get_object(Bucket=THUMBNAILS, Key=row.thumbnail_key)
    assert stored["ContentType"] == "image/webp"
    assert Image.open(stored["Body"]).size == (100, 50)
    preview = lambda_env.get_object(Bucket=THUMBNAILS, Key=row.preview_key)
    assert (preview["ContentType"], preview["CacheControl"]) == ("image/webp", "public, max-age=31536000, immutable")


def test_annotation_lambda_on_s3_notification(web, lambda_env, lambda_context, fake_gemini):
    record = uploaded(web)

    summary = annotation.lambda_handler(s3_notification(record.original_key), lambda_context)

    assert summary == {"completed": 1}
    row = web.repository.get(record.id)
    assert (row.caption_status, row.caption, row.caption_model) == (
        "completed",
        "A small red rectangle.",
        "gemini-3.5-flash-lite",
    )
    assert fake_gemini.requests[0].headers["x-goog-api-key"] == "lambda-key"
    assert row.thumbnail_status == "pending"


def test_duplicate_event_does_nothing(web, lambda_env, lambda_context, fake_gemini):
    record = uploaded(web)
    event = eventbridge_event(record.original_key)

    first = annotation.lambda_handler(event, lambda_context)
    second = annotation.lambda_handler(event, lambda_context)

    assert (first, second) == ({"completed": 1}, {"skipped": 1})
    assert len(fake_gemini.requests) == 1
    assert web.repository.get(record.id).caption_attempts == 1


def test_event_for_an_object_without_a_row_is_ignored(web, lambda_env, lambda_context):
    lambda_env.put_object(Bucket=ORIGINALS, Key="uploads/stray.jpg", Body=images.jpeg())
    assert thumbnail.lambda_handler(eventbridge_event("uploads/stray.jpg"), lambda_context) == {"ignored": 1}


def test_an_invocation_caps_mallocs_arenas_and_leaves_its_threshold_alone(lambda_env, lambda_context, monkeypatch):
    asked = []
    monkeypatch.setattr(allocator, "_is_glibc", lambda: True)
    monkeypatch.setattr(allocator, "_mallopt", lambda parameter, value: asked.append((parameter, value)) or True)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert thumbnail.lambda_handler({"detail-type": "Object Deleted"}, lambda_context) == {"dropped": 1}
    assert asked == [(allocator.M_ARENA_MAX, allocator.ARENAS)]


def test_a_malformed_event_is_logged_and_dropped_not_retried(lambda_env, lambda_context, capsys):
    assert thumbnail.lambda_handler({"detail-type": "Object Deleted"}, lambda_context) == {"dropped": 1}
    assert annotation.lambda_handler({"Records": "not a list"}, lambda_context) == {"dropped": 1}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    dropped = [line["message"] for line in lines if line["message"].startswith("dropped an event")]
    assert len(dropped) == 2 and "Records must be a list" in dropped[1]


OUTCOMES = {"dropped", "ignored", "skipped", "completed", "failed", "retry", "waiting", "lost"}


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_mangled_events_reach_both_handlers_and_are_dropped_or_ignored_never_raised(web, lambda_env, lambda_context):
    record = uploaded(web)  # so that events naming a real key or id meet a real row

    @settings(max_examples=60)
    @given(mangled_events(), st.sampled_from([thumbnail, annotation]))
    def check(event, function):
        outcome = function.lambda_handler(event, lambda_context)
        assert set(outcome) <= OUTCOMES, outcome

    check()
    assert web.repository.get(record.id) is not None


def test_a_job_due_event_runs_that_job_only(web, lambda_env, lambda_context):
    record = uploaded(web)

    assert thumbnail.lambda_handler(job_due_event(record.id, Job.THUMBNAIL), lambda_context) == {"completed": 1}
    assert annotation.lambda_handler(job_due_event(record.id, Job.THUMBNAIL), lambda_context) == {"ignored": 1}
    assert thumbnail.lambda_handler(job_due_event(999, Job.THUMBNAIL), lambda_context) == {"ignored": 1}
    assert web.repository.get(record.id).caption_attempts == 0


def test_missing_original_is_retried_later_with_the_reason(web, lambda_env, lambda_context):
    record = uploaded(web)
    lambda_env.delete_object(Bucket=ORIGINALS, Key=record.original_key)

    assert thumbnail.lambda_handler(eventbridge_event(record.original_key), lambda_context) == {"retry": 1}

    row = web.repository.get(record.id)
    assert row.thumbnail_status == "pending" and row.thumbnail_next_attempt_at is not None
    assert "missing" in row.thumbnail_error


def test_lambda_logs_are_json_lines_with_image_and_job(web, lambda_env, lambda_context, capsys):
    record = uploaded(web)
    capsys.readouterr()

    thumbnail.lambda_handler(eventbridge_event(record.original_key), lambda_context)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    completed = [line for line in lines if line["message"].startswith("job completed")]
    assert completed and completed[0]["image_id"] == record.id and completed[0]["job"] == "thumbnail"


def test_expired_lease_of_a_crashed_invocation_is_taken_over(web, lambda_env, lambda_context, engine):
    record = uploaded(web)
    web.repository.claim(record.id, "thumbnail", lease_seconds=90)  # an invocation that then died
    event = eventbridge_event(record.original_key)

    assert thumbnail.lambda_handler(event, lambda_context) == {"skipped": 1}  # lease still held
    shift(engine, record.id, thumbnail_started_at=-3600)
    assert thumbnail.lambda_handler(event, lambda_context) == {"completed": 1}
    assert web.repository.get(record.id).thumbnail_attempts == 2


# --- recovery on AWS: the sweeper's PutEvents, through the deployed rules, back into the functions ---


def shift(engine, image_id: int, **seconds: float) -> None:
    """Move timestamp columns by a number of seconds from now (negative: into the past)."""
    values = {name: utcnow() + timedelta(seconds=delta) for name, delta in seconds.items()}
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.id == image_id).values(values))


def delivered(sqs, queue_url: str) -> list[dict]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


@pytest.fixture
def job_rules(lambda_env):
    """Stack 03's job rules on moto's default bus, each with an SQS queue standing in for its function."""
    from tests.deployed_rules import job_rule_patterns

    sqs, events = boto3.client("sqs"), boto3.client("events")
    queues = {}
    for job, pattern in job_rule_patterns(ORIGINALS).items():
        url = sqs.create_queue(QueueName=f"{job}-function")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=f"{job}-jobs", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"{job}-jobs", Targets=[{"Id": "function", "Arn": arn}])
        queues[job] = url
    return sqs, queues


def test_a_job_left_processing_with_no_event_is_completed_by_the_sweeper(
    web, lambda_env, lambda_context, engine, job_rules
):
    sqs, queues = job_rules
    record = uploaded(web)
    assert thumbnail.lambda_handler(eventbridge_event(record.original_key), lambda_context) == {"completed": 1}
    web.repository.claim(record.id, Job.CAPTION, 90)  # the caption invocation was killed: no event will come
    shift(engine, record.id, caption_started_at=-91)

    assert job_sweeper.lambda_handler({"source": "aws.scheduler"}, lambda_context) == {
        "thumbnail": 0,
        "caption": 1,
        "purged": 0,
    }

    assert delivered(sqs, queues[Job.THUMBNAIL]) == []
    [event] = delivered(sqs, queues[Job.CAPTION])
    assert annotation.lambda_handler(event, lambda_context) == {"completed": 1}
    row = web.repository.get(record.id)
    assert (row.caption_status, row.caption_attempts) == ("completed", 2)


def test_a_caption_rate_limited_three_times_completes_through_the_sweeper(
    web, lambda_env, lambda_context, engine, job_rules, fake_gemini
):
    sqs, queues = job_rules
    record = uploaded(web)
    fake_gemini.retry_delay = "60s"
    for _ in range(3):
        fake_gemini.respond_with(429)
    event = s3_notification(record.original_key)
    for _ in range(3):
        assert annotation.lambda_handler(event, lambda_context) == {"retry": 1}
        row = web.repository.get(record.id)
        assert row.caption_status == "pending" and row.caption_attempts == 0
        assert job_sweeper.lambda_handler({}, lambda_context)["caption"] == 0, "not due yet"
        shift(engine, record.id, caption_next_attempt_at=-1)  # time passes
        assert job_sweeper.lambda_handler({}, lambda_context)["caption"] == 1
        [event] = delivered(sqs, queues[Job.CAPTION])
    assert annotation.lambda_handler(event, lambda_context) == {"completed": 1}
    assert web.repository.get(record.id).caption == "A small red rectangle."
    assert len(fake_gemini.requests) == 4


def test_a_pending_job_whose_upload_event_was_lost_is_announced_after_a_minute(
    web, lambda_env, lambda_context, engine, job_rules
):
    sqs, queues = job_rules
    record = uploaded(web)
    assert job_sweeper.lambda_handler({}, lambda_context) == {"thumbnail": 0, "caption": 0, "purged": 0}, (
        "its event may be near"
    )
    shift(engine, record.id, thumbnail_queued_at=-61, caption_queued_at=-61)

    assert job_sweeper.lambda_handler({}, lambda_context) == {"thumbnail": 1, "caption": 1, "purged": 0}
    [event] = delivered(sqs, queues[Job.THUMBNAIL])
    assert thumbnail.lambda_handler(event, lambda_context) == {"completed": 1}


def test_lambda_containers_keep_at_most_one_database_connection(lambda_env, lambda_context):
    pool = lambda_services().engine.pool
    if lambda_services().engine.dialect.name == "sqlite":
        pytest.skip("SQLite has no connection pool to size")
    assert (pool.size(), pool._max_overflow) == (1, 0)


def test_the_sweeper_purges_images_whose_time_in_the_trash_is_over_from_both_buckets(
    web, lambda_env, lambda_context, engine
):
    s3 = lambda_env
    record = uploaded(web)
    assert thumbnail.lambda_handler(eventbridge_event(record.original_key), lambda_context) == {"completed": 1}
    done = web.repository.get(record.id)
    kept = uploaded(web, images.jpeg((300, 200), color="blue"), "kept.jpg")
    web.repository.trash([record.id, kept.id])
    shift(engine, record.id, deleted_at=-31 * 24 * 3600)  # TRASH_RETENTION_DAYS (30) ago, and a day

    assert job_sweeper.lambda_handler({}, lambda_context)["purged"] == 1

    assert web.repository.find(record.id, include_trashed=True) is None
    assert web.repository.find(kept.id, include_trashed=True) is not None, "still restorable"
    left = {
        item["Key"]
        for bucket in (ORIGINALS, THUMBNAILS)
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    }
    assert left == {kept.original_key}
    assert {done.original_key, done.thumbnail_key, done.preview_key}.isdisjoint(left)
