"""The caption provider for any OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp, LM Studio),
through the `openai` SDK's chat completions with a JSON-schema response format.

As with Gemini: one request per call within the job's deadline, the SDK's own retries off (the job
lifecycle retries, honouring Retry-After), and every refusal turned into a sentence naming what to fix.
"""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING, Any

import openai

from annotation_core.errors import CaptionProviderError, RetryLaterError
from annotation_core.retry_policy import parse_retry_after
from lambda_functions.annotation_lambda.providers import ProviderReply, request_timeout

if TYPE_CHECKING:
    import httpx


class OpenAICompatibleProvider:
    """Describes images with a vision model on an OpenAI-compatible server; one SDK client, reused."""

    name = "openai"

    def __init__(self, base_url: str | None, api_key: str | None, model: str, timeout_seconds: int = 30):
        self.base_url = base_url
        self.api_key = api_key
        self.model = model
        self.timeout_seconds = timeout_seconds
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()

    def _get_client(self) -> openai.OpenAI:
        with self._lock:
            if self._client is None:
                # Local servers take no key, but the SDK insists on one.
                self._client = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=self.api_key or "no-key",
                    max_retries=0,
                    timeout=self.timeout_seconds,
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def describe(self, jpeg: bytes, prompt: str, schema: dict[str, Any], deadline: float) -> ProviderReply:
        """Ask for JSON matching `schema` about one JPEG image, before `deadline` (a time.monotonic() value)."""
        timeout = request_timeout(self.timeout_seconds, deadline)
        image_url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": {"url": image_url}},
                ],
            }
        ]
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "photo_caption", "schema": schema, "strict": True},
        }
        try:
            completion = self._get_client().chat.completions.create(
                model=self.model, messages=messages, response_format=response_format, timeout=timeout
            )
        except openai.APITimeoutError as e:
            raise RetryLaterError(
                f"{self._server} did not answer within {timeout:.0f} s; if this keeps happening, "
                "raise OPENAI_TIMEOUT_SECONDS (and JOB_LEASE_SECONDS for a slow local model)."
            ) from e
        except openai.APIConnectionError as e:
            raise RetryLaterError(
                f"Could not reach {self._server} ({e}); check that it runs and OPENAI_BASE_URL if this keeps happening."
            ) from e
        except openai.APIStatusError as e:
            raise self._status_error(e) from e
        if not completion.choices:
            raise CaptionProviderError(f"{self._server} returned no choices; check OPENAI_MODEL")
        choice = completion.choices[0]
        if choice.message.refusal or choice.finish_reason == "content_filter":
            reason = choice.message.refusal or "its content filter stopped the answer"
            raise CaptionProviderError(f"The model refused to caption this image ({reason}); it will not be retried")
        usage = completion.usage
        return ProviderReply(
            text=(choice.message.content or "").strip(),
            model=self.model,  # as configured: a backfill compares it with OPENAI_MODEL
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
        )

    @property
    def _server(self) -> str:
        return self.base_url or "the OpenAI API"

    def _status_error(self, e: openai.APIStatusError) -> Exception:
        """Say what the server answered and what to do about it; transient answers are retried later."""
        detail = f"{e.status_code}: {_message(e)}"
        if e.status_code == 429:
            return RetryLaterError(
                f"{self._server} is rate-limiting requests ({detail}); waiting as it asks.",
                retry_after=_retry_after(e),
                throttled=True,
            )
        if e.status_code in (408, 409) or e.status_code >= 500:
            return RetryLaterError(f"{self._server} is unavailable ({detail}).", retry_after=_retry_after(e))
        if e.status_code == 404:
            return CaptionProviderError(
                f"{self._server} has no model {self.model!r} ({detail}): check OPENAI_MODEL (and pull it, for Ollama)"
            )
        if e.status_code in (401, 403):
            return CaptionProviderError(f"{self._server} refused the key ({detail}): check OPENAI_API_KEY")
        return CaptionProviderError(
            f"{self._server} refused the request ({detail}): "
            "check OPENAI_MODEL (it must see images) and OPENAI_BASE_URL"
        )


def _message(e: openai.APIStatusError) -> str:
    """The server's own sentence. The SDK hands over the `error` member of a JSON answer: OpenAI's object with
    its `message`, or Ollama's bare string (a body that is not JSON, an HTML error page, also arrives as text)."""
    if isinstance(e.body, dict):
        return e.body.get("message") or e.message
    if isinstance(e.body, str) and e.body.strip() and _json_error(e.response) == e.body:
        return e.body.strip()
    return e.message


def _json_error(response: httpx.Response) -> object:
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer.get("error") if isinstance(answer, dict) else None


def _retry_after(e: openai.APIStatusError) -> float | None:
    """OpenAI's retry-after-ms, else the standard Retry-After header."""
    headers = e.response.headers
    if headers.get("retry-after-ms", "").isdigit():
        return int(headers["retry-after-ms"]) / 1000
    return parse_retry_after(headers.get("retry-after"))
