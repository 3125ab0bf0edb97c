"""Both Lambda handlers as AWS runs them: settings from the environment, real-shaped events, moto's S3,
a real database, Gemini through the real SDK against the fake server, JSON log lines."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from urllib.parse import quote_plus

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws
from PIL import Image

from annotation_core.bootstrap import Services, bootstrap, lambda_services
from annotation_core.events import EventParseError
from annotation_core.schema import images as table
from annotation_core.settings import Settings
from annotation_core.uploads import check_upload, store_upload
from lambda_functions.annotation_lambda import lambda_function as annotation
from lambda_functions.thumbnail_lambda import lambda_function as thumbnail
from tests import images

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
    assert stored["ContentType"] == "image/jpeg"
    assert Image.open(stored["Body"]).size == (100, 50)


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


def test_malformed_event_raises_so_aws_retries_then_dead_letters_it(lambda_env, lambda_context):
    with pytest.raises(EventParseError):
        thumbnail.lambda_handler({"detail-type": "Object Deleted"}, lambda_context)


def test_missing_original_fails_the_job_with_a_reason(web, lambda_env, lambda_context):
    record = uploaded(web)
    lambda_env.delete_object(Bucket=ORIGINALS, Key=record.original_key)

    assert thumbnail.lambda_handler(eventbridge_event(record.original_key), lambda_context) == {"failed": 1}

    row = web.repository.get(record.id)
    assert row.thumbnail_status == "failed"
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
    with engine.begin() as conn:
        row = conn.execute(sa.select(table.c.thumbnail_started_at).where(table.c.id == record.id)).scalar_one()
        conn.execute(
            sa.update(table).where(table.c.id == record.id).values(thumbnail_started_at=row.replace(year=row.year - 1))
        )
    assert thumbnail.lambda_handler(event, lambda_context) == {"completed": 1}
    assert web.repository.get(record.id).thumbnail_attempts == 2
