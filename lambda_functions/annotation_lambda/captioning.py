"""Caption providers: Gemini through the `google-genai` SDK."""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any

from google import genai
from google.genai import errors, types

from annotation_core.errors import CaptionProviderError

RETRYABLE_STATUS_CODES = [408, 429, 500, 502, 503, 504]
MAX_RETRY_DELAY_SECONDS = 10.0


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


@dataclass(frozen=True)
class Caption:
    """A caption and the model that wrote it."""

    text: str
    model: str


class GeminiCaptioner:
    """Captions images with Gemini; the SDK client is made on first use and then reused."""

    def __init__(
        self,
        api_key: str,
        model: str,
        prompt: str,
        base_url: str | None = None,
        timeout_seconds: int = 30,
        max_attempts: int = 4,
        initial_retry_delay: float = 1.0,
    ):
        self.api_key = api_key
        self.model = model
        self.prompt = prompt
        self.base_url = base_url
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max_attempts
        self.initial_retry_delay = initial_retry_delay
        self._client: genai.Client | None = None
        self._lock = threading.Lock()

    def _get_client(self) -> genai.Client:
        """The SDK client, created once with explicit timeout and retry options."""
        with self._lock:
            if self._client is None:
                retry = types.HttpRetryOptions(
                    attempts=self.max_attempts,
                    initial_delay=self.initial_retry_delay,
                    max_delay=MAX_RETRY_DELAY_SECONDS,
                    exp_base=2.0,
                    jitter=self.initial_retry_delay,  # the SDK's default adds up to 1 s whatever the delay
                    http_status_codes=RETRYABLE_STATUS_CODES,
                )
                options: dict[str, Any] = {"timeout": self.timeout_seconds * 1000, "retry_options": retry}
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

    def caption(self, data: bytes, mime_type: str) -> Caption:
        """Caption one image; raises CaptionProviderError with a message a user can act on."""
        if not self.api_key:
            raise CaptionProviderError(
                "No Gemini API key: set GEMINI_API_KEY (or GEMINI_API_KEY_SECRET_ARN), then retry"
            )
        image = types.Part.from_bytes(data=data, mime_type=mime_type)
        try:
            client = self._get_client()
            response = client.models.generate_content(model=self.model, contents=[image, self.prompt])
        except errors.APIError as e:
            raise CaptionProviderError(self._api_error_message(e)) from e
        except _TRANSPORT_ERRORS as e:
            raise CaptionProviderError(self._transport_error_message(e)) from e
        text = (response.text or "").strip()
        if not text:
            raise CaptionProviderError(f"Gemini returned no caption ({_no_caption_reason(response)})")
        return Caption(text=text, model=self.model)

    def _api_error_message(self, e: errors.APIError) -> str:
        """Say what Gemini answered and what to do about it."""
        detail = f"{e.code} {e.status or 'ERROR'}: {e.message or e.details}"
        after = _after(self.max_attempts)
        if e.code == 429:
            return f"Gemini is rate-limiting requests ({detail}) {after}: retry later or raise the quota"
        if e.code == 408 or e.code >= 500:
            return f"Gemini is unavailable ({detail}) {after}: retry later"
        if e.code == 404:
            return f"Gemini model {self.model!r} not found ({detail}): check GEMINI_MODEL_NAME"
        if e.code in (401, 403):
            return f"Gemini refused the request ({detail}): check GEMINI_API_KEY"
        return f"Gemini refused the request ({detail}): check GEMINI_API_KEY, GEMINI_MODEL_NAME and the image"

    def _transport_error_message(self, e: Exception) -> str:
        """Say whether Gemini was slow or unreachable, and what to do about it."""
        if isinstance(e, _TIMEOUT_ERRORS):
            return (
                f"Gemini did not answer within {self.timeout_seconds} s ({_after(self.max_attempts)}): "
                "retry later or raise GEMINI_TIMEOUT_SECONDS"
            )
        return (
            f"Could not reach {self.base_url or 'the Gemini API'} ({type(e).__name__}: {e}): "
            "check the network and GEMINI_BASE_URL, then retry later"
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
    return f"finish reason {finish.value}; try another image or GEMINI_PROMPT"


def _after(attempts: int) -> str:
    """'after N attempts', for messages."""
    return f"after {attempts} attempt{'s' * (attempts != 1)}"
