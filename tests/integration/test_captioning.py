"""The caption job's work end to end through the real SDKs and strict fakes: what the model is shown (a
small JPEG, whatever the upload was), the structured answer it must give, and the provenance recorded."""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import time

import pytest
import sqlalchemy as sa
from PIL import Image

from annotation_core.bootstrap import bootstrap
from annotation_core.caption_request import prompt_version
from annotation_core.errors import JobError, ProviderNotConfiguredError, RetryLaterError
from annotation_core.events import JobDue
from annotation_core.job_store import utcnow
from annotation_core.lifecycle import JobInput, lease_deadline
from annotation_core.records import Job, decode_tags
from annotation_core.settings import Settings
from annotation_core.uploads import check_upload, store_upload
from lambda_functions.annotation_lambda.lambda_function import (
    caption_work,
    wake_captions_waiting_for_a_provider,
    write_caption,
)
from lambda_functions.annotation_lambda.providers import provider_for
from tests import images
from tests.fake_gemini import FakeGemini
from tests.fake_openai import FakeOpenAI


class Row:
    """The few record fields the work reads."""

    id = 7


def run(settings: Settings, original: bytes):
    provider = provider_for(settings)
    try:
        return write_caption(JobInput(Row(), original, time.monotonic() + 20), provider=provider, settings=settings)
    finally:
        provider.close()


@pytest.fixture
def gemini(fake_gemini) -> Settings:
    return Settings(gemini_api_key="key", gemini_base_url=fake_gemini.base_url)


def cmyk_jpeg() -> bytes:
    return images.image_bytes("JPEG", (300, 200), mode="CMYK", color=(0, 255, 255, 0))


def png_16_bit() -> bytes:
    buffer = io.BytesIO()
    Image.new("I;16", (300, 200), 40000).save(buffer, "PNG")
    return buffer.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("P", (200, 150), color) for color in (1, 2, 3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "shown"),
    [
        ("gif", animated_gif, (200, 150)),
        ("png-16-bit", png_16_bit, (300, 200)),
        ("cmyk-jpeg", cmyk_jpeg, (300, 200)),
        ("png-alpha", lambda: images.image_bytes("PNG", (640, 480), mode="RGBA", color=(0, 0, 255, 0)), (640, 480)),
        ("48-megapixels", lambda: images.noisy_jpeg((8000, 6000), quality=80), (1024, 768)),
    ],
)
def test_every_format_is_shown_to_the_model_as_a_small_jpeg(fake_gemini, gemini, name, make, shown):
    output = run(gemini, make())

    assert output.columns["caption"] == fake_gemini.caption
    [(mime_type, sent)] = fake_gemini.requests[0].images
    assert mime_type == "image/jpeg"
    with Image.open(io.BytesIO(sent)) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB" if name != "png-16-bit" else "L", shown)


def test_a_12_megapixel_photo_costs_a_few_hundred_kilobytes(fake_gemini, gemini):
    original = images.noisy_jpeg((4000, 3000))
    run(gemini, original)
    [(_mime, sent)] = fake_gemini.requests[0].images
    assert len(sent) < 400_000 < len(original), (len(sent), len(original))  # the ratio is a `make bench` figure


def test_the_rendition_is_a_quality_85_jpeg(fake_gemini, gemini):
    """Quality 85: small enough to send, with no blocking a model could mistake for the photo's own texture."""
    run(gemini, images.noisy_jpeg((1600, 1200)))
    [(_mime, sent)] = fake_gemini.requests[0].images
    reference = io.BytesIO()
    Image.new("RGB", (8, 8)).save(reference, "JPEG", quality=85)
    with Image.open(io.BytesIO(sent)) as shown, Image.open(reference) as expected:
        assert shown.quantization == expected.quantization


def test_the_structured_answer_and_its_provenance_are_recorded(fake_gemini, gemini):
    fake_gemini.caption = "Two bicycles lean against a blue wall."
    fake_gemini.alt_text = "Image of two bicycles against a blue wall"
    fake_gemini.tags = ["Bicycles", "blue wall", "#street", "bicycles"]
    fake_gemini.text_in_image = "NO PARKING"

    columns = run(gemini, images.jpeg((400, 300))).columns

    assert columns["caption"] == "Two bicycles lean against a blue wall."
    assert columns["alt_text"] == "Two bicycles against a blue wall", "no 'image of'"
    assert decode_tags(columns["tags"]) == ("bicycles", "blue wall", "street")
    assert columns["text_in_image"] == "NO PARKING"
    assert (columns["caption_provider"], columns["caption_model"]) == ("gemini", gemini.gemini_model_name)
    assert columns["caption_prompt_version"] == prompt_version(gemini.gemini_prompt)
    assert columns["caption_language"] == "en"
    assert columns["caption_input_tokens"] == 264 and columns["caption_output_tokens"] > 0
    assert columns["caption_latency_ms"] >= 0 and columns["captioned_at"] is not None


def test_the_latency_recorded_is_the_time_the_model_took(fake_gemini, gemini):
    fake_gemini.delay_seconds = 0.3
    started = time.monotonic()
    latency_ms = run(gemini, images.jpeg()).columns["caption_latency_ms"]
    took_ms = (time.monotonic() - started) * 1000
    assert 300 <= latency_ms <= took_ms + 1


def test_captions_waiting_for_a_provider_are_due_once_one_is_configured(tmp_path, engine, fake_gemini):
    keyless = bootstrap(Settings(data_dir=str(tmp_path / "data")), engine=engine)
    image_id = store_upload(keyless, check_upload(keyless, "a.jpg", images.jpeg())).record.id
    work = functools.partial(write_caption, provider=provider_for(keyless.settings), settings=keyless.settings)
    assert keyless.runner().run(JobDue(image_id, Job.CAPTION), Job.CAPTION, work, lease_deadline(90)) == "waiting"
    assert wake_captions_waiting_for_a_provider(keyless) == 0, "still no provider: nothing to wake"
    assert keyless.repository.get(image_id).caption_next_attempt_at > utcnow()

    keyed = bootstrap(dataclasses.replace(keyless.settings, gemini_api_key="key"), engine=engine)
    assert wake_captions_waiting_for_a_provider(keyed) == 1
    assert keyed.repository.get(image_id).caption_next_attempt_at <= utcnow()
    assert wake_captions_waiting_for_a_provider(keyed) == 1, "due, but still waiting until a worker runs it"


def test_a_wake_the_database_refused_does_not_stop_the_job_and_the_next_job_tries_again(tmp_path, engine, monkeypatch):
    services = bootstrap(Settings(data_dir=str(tmp_path / "data"), gemini_api_key="key"), engine=engine)
    asked = []

    def deadlocked(job):
        asked.append(job)
        raise sa.exc.OperationalError("UPDATE images ...", {}, Exception("1213 Deadlock found"))

    monkeypatch.setattr(services.repository, "wake_waiting_for_setup", deadlocked)
    assert callable(caption_work(services)) and callable(caption_work(services))
    assert asked == [Job.CAPTION, Job.CAPTION], "a failed wake is not remembered as done"

    monkeypatch.setattr(services.repository, "wake_waiting_for_setup", lambda job: asked.append(job) or 0)
    caption_work(services)
    caption_work(services)
    assert asked == [Job.CAPTION] * 3, "once it worked, this container does not wake again"


def test_the_language_setting_reaches_the_prompt(fake_gemini, gemini):
    import dataclasses

    columns = run(dataclasses.replace(gemini, caption_language="de"), images.jpeg()).columns
    assert 'BCP 47 tag is "de"' in fake_gemini.requests[0].texts[0]
    assert columns["caption_language"] == "de"


def test_an_answer_that_is_not_json_is_asked_for_once_more(fake_gemini, gemini):
    fake_gemini.respond_with(200, FakeGemini.success_body("Sure! Here is a caption: a dog."))
    assert run(gemini, images.jpeg()).columns["caption"] == fake_gemini.caption
    assert len(fake_gemini.requests) == 2


def test_two_unusable_answers_fail_the_job_with_the_reason(fake_gemini, gemini):
    fake_gemini.respond_with(200, FakeGemini.success_body("not json"))
    fake_gemini.respond_with(200, FakeGemini.success_body(json.dumps({"caption": ""})))
    with pytest.raises(JobError, match="not the JSON asked for, twice .*empty caption"):
        run(gemini, images.jpeg())


def test_the_openai_provider_writes_the_same_fields(fake_openai):
    settings = Settings(caption_provider="openai", openai_base_url=fake_openai.base_url, openai_model="llava")
    fake_openai.tags = ["harbour", "boats"]
    columns = run(settings, images.jpeg((300, 200))).columns
    assert (columns["caption_provider"], columns["caption_model"]) == ("openai", "llava")
    assert decode_tags(columns["tags"]) == ("harbour", "boats")
    assert (columns["caption_input_tokens"], columns["caption_output_tokens"]) == (310, 42)
    [(mime_type, _sent)] = fake_openai.requests[0].images
    assert mime_type == "image/jpeg"


def test_the_openai_settings_reach_the_provider(fake_openai):
    fake_openai.api_key = "sk-test"
    fake_openai.delay_seconds = 4.0
    settings = Settings(
        caption_provider="openai",
        openai_base_url=fake_openai.base_url,
        openai_api_key="sk-test",
        openai_model="llava",
        openai_timeout_seconds=2,
    )
    with pytest.raises(RetryLaterError, match="did not answer within 2 s; .*OPENAI_TIMEOUT_SECONDS"):
        run(settings, images.jpeg())
    [request] = fake_openai.requests
    assert (request.headers["authorization"], request.model) == ("Bearer sk-test", "llava")


def test_the_gemini_timeout_setting_reaches_the_provider(fake_gemini, gemini):
    fake_gemini.delay_seconds = 4.0
    with pytest.raises(RetryLaterError, match="did not answer within 2 s; .*GEMINI_TIMEOUT_SECONDS"):
        run(dataclasses.replace(gemini, gemini_timeout_seconds=2), images.jpeg())


def test_a_gemini_provider_made_without_a_key_asks_nothing(fake_gemini, gemini):
    provider = provider_for(dataclasses.replace(gemini, gemini_api_key=None))
    with pytest.raises(ProviderNotConfiguredError, match="GEMINI_API_KEY"):
        provider.describe(b"", "Describe it.", {}, time.monotonic() + 20)
    assert fake_gemini.requests == []


def test_an_openai_answer_in_a_code_fence_is_read(fake_openai):
    settings = Settings(caption_provider="openai", openai_base_url=fake_openai.base_url)
    fenced = "```json\n" + json.dumps(fake_openai.fields()) + "\n```"
    fake_openai.respond_with(200, FakeOpenAI.completion(fenced))
    assert run(settings, images.jpeg()).columns["caption"] == fake_openai.caption
    assert len(fake_openai.requests) == 1


def test_an_original_that_is_not_an_image_fails_before_any_request(fake_gemini, gemini):
    with pytest.raises(JobError, match="not in an image format"):
        run(gemini, images.TEXT)
    assert fake_gemini.requests == []


def test_without_a_key_the_caption_waits_before_the_original_is_decoded(fake_gemini, gemini):
    """Nothing is shown to nobody: a job with no provider must not spend a decode of the original."""
    keyless = dataclasses.replace(gemini, gemini_api_key="")
    with pytest.raises(ProviderNotConfiguredError, match="GEMINI_API_KEY"):
        run(keyless, images.TEXT)  # not an image: decoding it first would fail the job instead
    assert fake_gemini.requests == []
