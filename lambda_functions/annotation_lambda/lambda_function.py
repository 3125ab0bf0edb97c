"""annotation_lambda: an uploaded original (or a due caption job) → its caption, alt text and tags from a
vision model, with their provenance, recorded on the row beside (never over) what people wrote."""

from __future__ import annotations

import functools
import logging
import time

import sqlalchemy as sa

from annotation_core.bootstrap import Services
from annotation_core.caption_request import (
    CAPTION_SCHEMA,
    InvalidReplyError,
    build_prompt,
    parse_reply,
    prompt_version,
)
from annotation_core.errors import JobError, ProviderNotConfiguredError
from annotation_core.job_store import utcnow
from annotation_core.lambda_entry import JobLambdaHandler
from annotation_core.lifecycle import JobInput, JobOutput, Work
from annotation_core.records import Job, encode_tags
from annotation_core.settings import Settings
from lambda_functions.annotation_lambda.caption_rendition import make_caption_rendition
from lambda_functions.annotation_lambda.providers import NO_GEMINI_KEY, CaptionProvider, provider_for

log = logging.getLogger(__name__)

ASKS_PER_ATTEMPT = 2  # an answer that is not the JSON asked for is asked for once more


def write_caption(job: JobInput, *, provider: CaptionProvider, settings: Settings) -> JobOutput:
    """Show the model the caption rendition and record its structured answer with where it came from."""
    if not settings.caption_provider_configured:  # wait for a key before decoding the original for nobody
        raise ProviderNotConfiguredError(NO_GEMINI_KEY)
    rendition = make_caption_rendition(job.original, settings.caption_max_pixels, settings.max_image_pixels)
    prompt = build_prompt(settings.gemini_prompt, settings.caption_language)
    for ask in range(1, ASKS_PER_ATTEMPT + 1):
        started = time.monotonic()
        reply = provider.describe(rendition, prompt, CAPTION_SCHEMA, job.deadline)
        latency_ms = round((time.monotonic() - started) * 1000)
        try:
            result = parse_reply(reply.text)
            break
        except InvalidReplyError as error:
            log.warning("unusable caption answer image=%s ask=%d: %s", job.record.id, ask, error)
            if ask == ASKS_PER_ATTEMPT:
                raise JobError(f"The model's answer was not the JSON asked for, twice ({error}); retry it.") from error
    return JobOutput(
        {
            "caption": result.caption,
            "alt_text": result.alt_text,
            "tags": encode_tags(result.tags),
            "text_in_image": result.text_in_image,
            "caption_provider": provider.name,
            "caption_model": reply.model,
            "caption_prompt_version": prompt_version(settings.gemini_prompt),
            "caption_language": settings.caption_language,
            "caption_input_tokens": reply.input_tokens,
            "caption_output_tokens": reply.output_tokens,
            "caption_latency_ms": latency_ms,
            "captioned_at": utcnow(),
        }
    )


def caption_work(services: Services) -> Work:
    try:
        wake_captions_once(services)
    except sa.exc.DBAPIError:  # a deadlock or a lost connection: not cached, so the next job tries again
        log.warning("could not make the captions waiting for a provider due now", exc_info=True)
    return functools.partial(
        write_caption, provider=provider_for_settings(services.settings), settings=services.settings
    )


def wake_captions_waiting_for_a_provider(services: Services) -> int:
    """With a provider configured now, captions that waited for one are due at once (the sweeper sends them)."""
    if not services.settings.caption_provider_configured:
        return 0
    woken = services.repository.wake_waiting_for_setup(Job.CAPTION)
    if woken:
        log.info("a caption provider is configured: %d waiting captions are due", woken)
    return woken


@functools.cache
def wake_captions_once(services: Services) -> None:
    """Once per Lambda container and worker (a new key reaches new containers)."""
    wake_captions_waiting_for_a_provider(services)


@functools.cache
def provider_for_settings(settings: Settings) -> CaptionProvider:
    """One provider (and HTTP client) per settings, reused across warm invocations."""
    return provider_for(settings)


lambda_handler = JobLambdaHandler(Job.CAPTION, caption_work)
