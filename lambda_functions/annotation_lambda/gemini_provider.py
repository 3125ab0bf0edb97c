"""The Gemini caption provider, through the `google-genai` SDK, with Gemini's response schema.

One request per call, never longer than the job's deadline allows: a transient answer (429, 408, 5xx, a
timeout, a dropped connection) raises RetryLaterError and the job lifecycle tries again later, honouring
the wait Gemini asks for (RetryInfo). Everything else is a CaptionProviderError that says what to fix.
"""

from __future__ import annotations

import importlib
import re
import threading
from typing import Any

from google import genai
from google.genai import errors, types

from annotation_core.errors import CaptionProviderError, ProviderNotConfiguredError, RetryLaterError
from annotation_core.retry_policy import parse_retry_after
from lambda_functions.annotation_lambda.providers import NO_GEMINI_KEY, ProviderReply, request_timeout

# Finish reasons that mean Gemini's safety filters withheld the answer: retrying cannot change that.
_BLOCKED = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY", "RECITATION"}


def _httpx_errors(name: str) -> tuple[type[Exception], ...]:
    """One exception class of each installed httpx flavour (the SDK uses httpx2, or httpx if so set)."""
    found = []
    for module_name in ("httpx2", "httpx"):
        try:
            found.append(getattr(importlib.import_module(module_name), name))
        except ImportError:
            continue
    return tuple(found)


_TRANSPORT_ERRORS = _httpx_errors("RequestError")  # timeouts, refused or dropped connections
_TIMEOUT_ERRORS = _httpx_errors("TimeoutException")


class GeminiProvider:
    """Describes images with Gemini; the SDK client is made on first use and then reused."""

    name = "gemini"

    def __init__(self, api_key: str, model: str, base_url: str | None = None, timeout_seconds: int = 30):
        self.api_key = api_key
        self.model = model
        self.base_url = base_url
        self.timeout_seconds = timeout_seconds
        self._client: genai.Client | None = None
        self._lock = threading.Lock()

    def _get_client(self) -> genai.Client:
        """The SDK client, created once; it never retries by itself (the job lifecycle does)."""
        with self._lock:
            if self._client is None:
                options: dict[str, Any] = {"timeout": self.timeout_seconds * 1000}
                if self.base_url:
                    options["base_url"] = self.base_url
                self._client = genai.Client(
                    vertexai=False, api_key=self.api_key, http_options=types.HttpOptions(**options)
                )
            return self._client

    def close(self) -> None:
        """Release the SDK client's connections (a new one is made if captioning again)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def describe(self, jpeg: bytes, prompt: str, schema: dict[str, Any], deadline: float) -> ProviderReply:
        """Ask for JSON matching `schema` about one JPEG image, before `deadline` (a time.monotonic() value)."""
        if not self.api_key:
            raise ProviderNotConfiguredError(NO_GEMINI_KEY)
        timeout = request_timeout(self.timeout_seconds, deadline)
        config = types.GenerateContentConfig(
            response_mime_type="application/json",
            response_json_schema=schema,
            http_options=types.HttpOptions(timeout=int(timeout * 1000)),
        )
        image = types.Part.from_bytes(data=jpeg, mime_type="image/jpeg")
        try:
            client = self._get_client()
            response = client.models.generate_content(model=self.model, contents=[image, prompt], config=config)
        except errors.APIError as e:
            raise self._api_error(e) from e
        except _TRANSPORT_ERRORS as e:
            raise self._transport_error(e, timeout) from e
        text = (response.text or "").strip()
        if not text:
            raise CaptionProviderError(f"Gemini returned no caption ({_no_caption_reason(response)})")
        usage = response.usage_metadata
        return ProviderReply(
            text=text,
            model=self.model,  # as configured: a backfill compares it with GEMINI_MODEL_NAME
            input_tokens=usage.prompt_token_count if usage else None,
            output_tokens=usage.candidates_token_count if usage else None,
        )

    def _api_error(self, e: errors.APIError) -> Exception:
        """Say what Gemini answered and what to do about it; transient answers are retried later."""
        detail = f"{e.code} {e.status or 'ERROR'}: {e.message or e.details}"
        if e.code == 429:
            return RetryLaterError(
                f"Gemini is rate-limiting requests ({detail}); waiting as it asks.",
                retry_after=_retry_after(e),
                throttled=True,
            )
        if e.code == 408 or e.code >= 500:
            return RetryLaterError(f"Gemini is unavailable ({detail}).", retry_after=_retry_after(e))
        if e.code == 404:
            return CaptionProviderError(f"Gemini model {self.model!r} not found ({detail}): check GEMINI_MODEL_NAME")
        if e.code in (401, 403) or _invalid_api_key(e):
            return CaptionProviderError(f"Gemini refused the request ({detail}): check GEMINI_API_KEY")
        return CaptionProviderError(
            f"Gemini refused the request ({detail}): check GEMINI_API_KEY, GEMINI_MODEL_NAME and the image"
        )

    def _transport_error(self, e: Exception, timeout: float) -> RetryLaterError:
        """Say whether Gemini was slow or unreachable; either way the caption is tried again later."""
        if isinstance(e, _TIMEOUT_ERRORS):
            return RetryLaterError(
                f"Gemini did not answer within {timeout:.0f} s; if this keeps happening, raise GEMINI_TIMEOUT_SECONDS."
            )
        return RetryLaterError(
            f"Could not reach {self.base_url or 'the Gemini API'} ({type(e).__name__}: {e}); "
            "check the network and GEMINI_BASE_URL if this keeps happening."
        )


def _no_caption_reason(response: types.GenerateContentResponse) -> str:
    """Why a response carries no text: the prompt's block reason or the first candidate's finish reason."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = f"prompt blocked: {feedback.block_reason.value}"
        if feedback.block_reason_message:
            reason += f", {feedback.block_reason_message}"
        return reason + "; try another image or GEMINI_PROMPT"
    finish = response.candidates[0].finish_reason if response.candidates else None
    if finish is None:
        return "empty answer; retry later or try another image"
    if finish.value in _BLOCKED:
        return f"blocked by its safety filters, finish reason {finish.value}; it will not caption this image"
    return f"finish reason {finish.value}; try another image or GEMINI_PROMPT"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _retry_after(e: errors.APIError) -> float | None:
    """The wait Gemini asks for: google.rpc.RetryInfo's retryDelay ("43s"), else a Retry-After header."""
    body = e.details if isinstance(e.details, dict) else {}
    for detail in (body.get("error") or {}).get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match[1])
    headers = getattr(getattr(e, "response", None), "headers", None) or {}
    return parse_retry_after(headers.get("retry-after"))


def _invalid_api_key(e: errors.APIError) -> bool:
    """Gemini answers a wrong key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID."""
    body = e.details if isinstance(e.details, dict) else {}
    reasons = [d.get("reason") for d in (body.get("error") or {}).get("details") or [] if isinstance(d, dict)]
    return "API_KEY_INVALID" in reasons or "API key not valid" in (e.message or "")
