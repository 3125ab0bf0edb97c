"""The caption provider interface, and the one place that picks a provider from the settings.

A provider sends one image and one prompt, asks for JSON matching a schema, and answers the text it got
back with its provenance. Transient trouble raises RetryLaterError (the job lifecycle tries again later);
anything a retry cannot fix raises CaptionProviderError naming the setting to change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from annotation_core.errors import RetryLaterError
from annotation_core.settings import Settings

# A request given less time than this would most likely time out: better to try again in a new attempt.
MIN_REQUEST_SECONDS = 2.0
# Gemini is the one provider that can be chosen yet unusable (no key): what to do about it.
NO_GEMINI_KEY = (
    "put a Gemini API key in GEMINI_API_KEY (on AWS, in the secret GEMINI_API_KEY_SECRET_ARN names), or "
    "choose another provider with CAPTION_PROVIDER; captions then follow by themselves."
)


@dataclass(frozen=True)
class ProviderReply:
    """The model's answer (JSON text, not yet read) and what it cost."""

    text: str
    model: str
    input_tokens: int | None
    output_tokens: int | None


class CaptionProvider(Protocol):
    name: str  # "gemini" or "openai", recorded with every caption
    model: str

    def describe(self, jpeg: bytes, prompt: str, schema: dict[str, Any], deadline: float) -> ProviderReply: ...


def request_timeout(configured: float, deadline: float) -> float:
    """Seconds one request may take: its configured timeout, cut to the time the job has left."""
    timeout = min(float(configured), deadline - time.monotonic())
    if timeout < MIN_REQUEST_SECONDS:
        raise RetryLaterError("Not enough time was left in this attempt to ask the caption model; it will be retried.")
    return timeout


def provider_for(settings: Settings) -> CaptionProvider:
    """The provider CAPTION_PROVIDER names, configured from the settings (its SDK is imported only then)."""
    if settings.caption_provider == "openai":
        from lambda_functions.annotation_lambda.openai_provider import OpenAICompatibleProvider

        return OpenAICompatibleProvider(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
            model=settings.openai_model,
            timeout_seconds=settings.openai_timeout_seconds,
        )
    from lambda_functions.annotation_lambda.gemini_provider import GeminiProvider

    return GeminiProvider(
        api_key=settings.gemini_api_key or "",
        model=settings.gemini_model_name,
        base_url=settings.gemini_base_url,
        timeout_seconds=settings.gemini_timeout_seconds,
    )
