"""annotation_lambda: an uploaded original (or a due caption job) → its caption, recorded on the row."""

from __future__ import annotations

import functools

from annotation_core.bootstrap import Services
from annotation_core.lambda_entry import job_lambda_handler
from annotation_core.lifecycle import JobInput, JobOutput, Work
from annotation_core.media_types import sniff_mime_type
from annotation_core.records import Job
from annotation_core.settings import Settings
from lambda_functions.annotation_lambda.captioning import GeminiCaptioner


def write_caption(job: JobInput, *, captioner: GeminiCaptioner) -> JobOutput:
    """Ask the caption provider to describe the original, within the job's deadline."""
    caption = captioner.caption(job.original, sniff_mime_type(job.original), deadline=job.deadline)
    return JobOutput({"caption": caption.text, "caption_model": caption.model})


def caption_work(services: Services) -> Work:
    return functools.partial(write_caption, captioner=captioner_for(services.settings))


@functools.cache
def captioner_for(settings: Settings) -> GeminiCaptioner:
    """One captioner (and HTTP client) per settings, reused across warm invocations."""
    return GeminiCaptioner(
        api_key=settings.gemini_api_key or "",
        model=settings.gemini_model_name,
        prompt=settings.gemini_prompt,
        base_url=settings.gemini_base_url,
        timeout_seconds=settings.gemini_timeout_seconds,
    )


lambda_handler = job_lambda_handler(Job.CAPTION, caption_work)
