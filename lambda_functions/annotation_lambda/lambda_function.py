"""annotation_lambda: S3 'Object Created' → a caption from Gemini, recorded on the row."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from annotation_core.bootstrap import Services, lambda_services
from annotation_core.media_types import sniff_mime_type
from annotation_core.records import ImageRecord, Job
from annotation_core.settings import Settings
from annotation_core.tasks import JobOutput, run_job
from lambda_functions.annotation_lambda.captioning import GeminiCaptioner


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, int]:
    return handle(event, lambda_services())


def handle(event: Mapping[str, Any], services: Services) -> dict[str, int]:
    """Caption every image the event announces (the local bus calls this too)."""
    return run_job(Job.CAPTION, event, services, write_caption)


def write_caption(services: Services, record: ImageRecord, original: bytes) -> JobOutput:
    """Ask the caption provider to describe the original."""
    caption = captioner_for(services.settings).caption(original, sniff_mime_type(original))
    return JobOutput({"caption": caption.text, "caption_model": caption.model})


@functools.cache
def captioner_for(settings: Settings) -> GeminiCaptioner:
    """One captioner (and HTTP client) per settings, reused across warm invocations."""
    return GeminiCaptioner(
        api_key=settings.gemini_api_key or "",
        model=settings.gemini_model_name,
        prompt=settings.gemini_prompt,
        base_url=settings.gemini_base_url,
        timeout_seconds=settings.gemini_timeout_seconds,
        max_attempts=settings.gemini_max_attempts,
    )
