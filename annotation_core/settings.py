"""The one place that reads the environment: every setting as data, typed and validated once.

`SETTINGS` lists each variable with its default and a help line; `env.example` and the README must
list them all (a test checks). A wrong value raises `ConfigurationError` naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotation_core.errors import ConfigurationError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
AUTH_MODES = ("password", "public")


def _text(raw: str) -> str:
    return raw.strip()


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


@dataclass(frozen=True)
class Range:
    """A parser for numbers of `kind` (int or float) from `low` to `high`, both included."""

    kind: type
    low: float
    high: float

    def __call__(self, raw: str) -> float:
        value = self.kind(raw)
        if not self.low <= value <= self.high:  # also refuses nan
            raise ValueError(f"must be between {self.low} and {self.high}")
        return value


@dataclass(frozen=True)
class OneOf:
    """A parser for one of a few words, in any case."""

    choices: tuple[str, ...]

    def __call__(self, raw: str) -> str:
        value = raw.strip().lower()
        if value not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}")
        return value


_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _language_tag(raw: str) -> str:
    value = raw.strip()
    if not _LANGUAGE_TAG.match(value):
        raise ValueError("must be a BCP 47 language tag such as en, de, ja or pt-BR")
    return value


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", ""):
        raise ValueError("must be true or false")
    return value in ("true", "1", "yes")


def _url(raw: str) -> str | None:
    value = raw.strip()
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value or None


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default (as the text a user would write) and meaning."""

    name: str
    default: str
    parse: Callable[[str], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", "./data", _text, "Folder for the local database and buckets (embedded mode)."),
    Setting("PORT", "5000", Range(int, 1, 65535), "Port the web app listens on."),
    Setting(
        "BIND_HOST",
        "127.0.0.1",
        _text,
        "Address the web app listens on: 127.0.0.1 serves this machine only; the container sets 0.0.0.0.",
    ),
    Setting("LOG_LEVEL", "INFO", _log_level, "Logging verbosity: DEBUG, INFO, WARNING, ERROR or CRITICAL."),
    Setting(
        "FLASK_SECRET_KEY",
        "",
        _optional_text,
        "Signs sessions and CSRF tokens. Empty: a random key is kept in DATA_DIR.",
    ),
    Setting(
        "FLASK_SECRET_KEY_SECRET_ARN",
        "",
        _optional_text,
        "Secrets Manager secret holding FLASK_SECRET_KEY (used when FLASK_SECRET_KEY is empty).",
    ),
    Setting(
        "AUTH_MODE",
        "password",
        OneOf(AUTH_MODES),
        "password: everyone signs in. public: no sign-in, every visitor acts as an admin "
        "(allowed only when BIND_HOST is a loopback address).",
    ),
    Setting("ADMIN_USERNAME", "admin", _text, "The first admin, created (or updated) at start-up."),
    Setting(
        "ADMIN_PASSWORD",
        "",
        _optional_text,
        "The first admin's password, set at every start. Empty: the first start makes one up and logs it once.",
    ),
    Setting(
        "ADMIN_PASSWORD_SECRET_ARN",
        "",
        _optional_text,
        "Secrets Manager secret holding ADMIN_PASSWORD (used when ADMIN_PASSWORD is empty).",
    ),
    Setting("SESSION_HOURS", "12", Range(float, 0.01, 24 * 90), "A sign-in lasts this long, then asks again."),
    Setting(
        "LOGIN_MAX_FAILURES",
        "5",
        Range(int, 1, 1000),
        "Wrong passwords for one account within LOGIN_LOCKOUT_MINUTES before it is locked for that long.",
    ),
    Setting(
        "LOGIN_MAX_FAILURES_PER_ADDRESS",
        "20",
        Range(int, 1, 100000),
        "Wrong passwords from one client address within LOGIN_LOCKOUT_MINUTES before it is refused for that long.",
    ),
    Setting("LOGIN_LOCKOUT_MINUTES", "15", Range(float, 0.01, 24 * 60), "The window of the two limits above."),
    Setting(
        "UPLOADS_PER_HOUR",
        "1000",
        Range(int, 1, 1_000_000),
        "Images one user may upload in any hour; more are refused with 429 until the hour has passed.",
    ),
    Setting(
        "PASSWORD_HASH_TIME_COST",
        "3",
        Range(int, 1, 20),
        "Argon2id passes over memory per password hash (raise to make guessing slower).",
    ),
    Setting(
        "PASSWORD_HASH_MEMORY_KIB",
        "65536",
        Range(int, 64, 4 * 1024 * 1024),
        "Argon2id memory per password hash, in KiB (64 MiB by default).",
    ),
    Setting(
        "PROXY_COUNT",
        "0",
        Range(int, 0, 5),
        "Proxies in front of the app whose X-Forwarded-For and X-Forwarded-Proto are believed "
        "(the load balancer on AWS: 1).",
    ),
    Setting(
        "HTTPS_ONLY",
        "false",
        _flag,
        "Browsers reach the app over HTTPS only (stack 04 with a certificate): Secure cookies and HSTS.",
    ),
    Setting("MAX_UPLOAD_MB", "20", Range(int, 1, 1024), "Largest accepted upload, per file, in MiB."),
    Setting(
        "MAX_IMAGE_PIXELS",
        "100000000",
        Range(int, 1, 2_000_000_000),
        "Largest accepted image in pixels (width x height); bigger files are refused as too large.",
    ),
    Setting("DB_HOST", "", _optional_text, "MySQL host. Empty: SQLite in DATA_DIR."),
    Setting("DB_PORT", "3306", Range(int, 1, 65535), "MySQL port."),
    Setting("DB_USER", "admin", _text, "MySQL user."),
    Setting("DB_PASSWORD", "", _text, "MySQL password (on AWS read from DB_SECRET_ARN instead)."),
    Setting("DB_NAME", "image_annotation_db", _text, "MySQL database name."),
    Setting(
        "DB_SECRET_ARN",
        "",
        _optional_text,
        "Secrets Manager secret holding the MySQL password (RDS-managed secret, key 'password').",
    ),
    Setting("S3_IMAGE_BUCKET", "", _optional_text, "Bucket for originals. Empty: a folder in DATA_DIR."),
    Setting("S3_THUMBNAIL_BUCKET", "", _optional_text, "Bucket for thumbnails. Empty: a folder in DATA_DIR."),
    Setting(
        "EVENT_BUS_NAME",
        "",
        _optional_text,
        "EventBridge bus that retries are published to on AWS. Empty: the local event bus.",
    ),
    Setting(
        "GEMINI_API_KEY",
        "",
        _optional_text,
        "Google Gemini API key. Empty: captions wait until a provider is configured.",
    ),
    Setting(
        "GEMINI_API_KEY_SECRET_ARN",
        "",
        _optional_text,
        "Secrets Manager secret holding the Gemini API key (used when GEMINI_API_KEY is empty).",
    ),
    Setting("GEMINI_MODEL_NAME", "gemini-3.5-flash-lite", _text, "Gemini model that writes captions."),
    Setting(
        "CAPTION_PROVIDER",
        "gemini",
        OneOf(("gemini", "openai")),
        "Who writes captions: gemini, or openai (any OpenAI-compatible server: OpenAI, Ollama, vLLM, LM Studio).",
    ),
    Setting(
        "CAPTION_LANGUAGE",
        "en",
        _language_tag,
        "BCP 47 tag of the language of captions, alt text and tags (text in the image stays verbatim).",
    ),
    Setting(
        "CAPTION_MAX_PIXELS",
        "1024",
        Range(int, 256, 4096),
        "Longest side of the JPEG a caption model is shown (the original is never sent).",
    ),
    Setting(
        "CAPTION_CONCURRENCY",
        "2",
        Range(int, 1, 64),
        "Local worker: caption requests in flight at once.",
    ),
    Setting(
        "GEMINI_PROMPT",
        "Describe this photo factually, as a careful photo librarian would.",
        _text,
        "Instructions sent with every image (to either provider); the answer's fields and language are added.",
    ),
    Setting("GEMINI_BASE_URL", "", _url, "Optional API gateway or proxy in front of Gemini."),
    Setting(
        "OPENAI_BASE_URL",
        "",
        _url,
        "OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1 for Ollama. Empty: api.openai.com.",
    ),
    Setting(
        "OPENAI_API_KEY", "", _optional_text, "Key of the OpenAI-compatible server (may stay empty for local ones)."
    ),
    Setting(
        "OPENAI_API_KEY_SECRET_ARN",
        "",
        _optional_text,
        "Secrets Manager secret holding OPENAI_API_KEY (used when OPENAI_API_KEY is empty).",
    ),
    Setting(
        "OPENAI_MODEL", "gpt-4o-mini", _text, "Vision model on the OpenAI-compatible server, e.g. llava or qwen2.5vl."
    ),
    Setting(
        "OPENAI_TIMEOUT_SECONDS",
        "30",
        Range(int, 1, 600),
        "Timeout of one request to the OpenAI-compatible server (a slow local model needs more, with the lease).",
    ),
    Setting(
        "GEMINI_TIMEOUT_SECONDS",
        "30",
        Range(int, 1, 600),
        "Timeout of one Gemini request (one per job attempt; a slow answer is retried later).",
    ),
    Setting("THUMBNAIL_WIDTH", "256", Range(int, 16, 4096), "Thumbnails fit inside this width..."),
    Setting("THUMBNAIL_HEIGHT", "256", Range(int, 16, 4096), "...and this height, keeping aspect."),
    Setting(
        "PREVIEW_SIZE",
        "1440",
        Range(int, 256, 4096),
        "Longest side of the preview (detail page; the gallery on high-density screens), in pixels.",
    ),
    Setting(
        "THUMBNAIL_FORMAT",
        "webp",
        OneOf(("webp", "jpeg")),
        "Format of the grid image and preview: webp (smaller), or jpeg for very old browsers.",
    ),
    Setting(
        "KEEP_LOCATION",
        "false",
        _flag,
        "true: store a photo's GPS coordinates; false: only whether it had any. Renditions never carry them.",
    ),
    Setting(
        "JOB_LEASE_SECONDS",
        "90",
        Range(int, 5, 3600),
        "A job left 'processing' this long is taken to have crashed and may be claimed again.",
    ),
    Setting(
        "JOB_MAX_ATTEMPTS",
        "5",
        Range(int, 1, 20),
        "Attempts a job gets through transient failures (timeouts, 5xx, storage or database hiccups) "
        "before it fails; rate-limit answers do not use up attempts.",
    ),
    Setting(
        "JOB_RETRY_BASE_SECONDS",
        "10",
        Range(float, 0.1, 3600),
        "Wait before a job's first retry; it doubles with each retry (with jitter). A Retry-After is honoured.",
    ),
    Setting(
        "JOB_RETRY_MAX_SECONDS",
        "900",
        Range(float, 1, 86400),
        "Longest wait between two attempts of a job.",
    ),
    Setting(
        "JOB_RETRY_WINDOW_HOURS",
        "24",
        Range(float, 0.01, 720),
        "A job still rate-limited this long after it was queued fails (raise the quota, then retry it).",
    ),
    Setting("WORKER_THREADS", "2", Range(int, 1, 64), "Local worker: thumbnail jobs run at once."),
    Setting(
        "TRASH_RETENTION_DAYS",
        "30",
        Range(float, 0.01, 3650),
        "Deleted images stay in the trash this long (restorable), then the sweeper deletes them for good.",
    ),
)


@dataclass(frozen=True)
class Settings:
    """Typed settings; build with `load_settings()` or directly in tests."""

    data_dir: str = "./data"
    port: int = 5000
    bind_host: str = "127.0.0.1"
    log_level: str = "INFO"
    flask_secret_key: str | None = None
    flask_secret_key_secret_arn: str | None = None
    auth_mode: str = "password"
    admin_username: str = "admin"
    admin_password: str | None = None
    admin_password_secret_arn: str | None = None
    session_hours: float = 12.0
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_lockout_minutes: float = 15.0
    uploads_per_hour: int = 1000
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    proxy_count: int = 0
    https_only: bool = False
    max_upload_mb: int = 20
    max_image_pixels: int = 100_000_000
    db_host: str | None = None
    db_port: int = 3306
    db_user: str = "admin"
    db_password: str = ""
    db_name: str = "image_annotation_db"
    db_secret_arn: str | None = None
    s3_image_bucket: str | None = None
    s3_thumbnail_bucket: str | None = None
    event_bus_name: str | None = None
    gemini_api_key: str | None = None
    gemini_api_key_secret_arn: str | None = None
    gemini_model_name: str = "gemini-3.5-flash-lite"
    caption_provider: str = "gemini"
    caption_language: str = "en"
    caption_max_pixels: int = 1024
    caption_concurrency: int = 2
    gemini_prompt: str = "Describe this photo factually, as a careful photo librarian would."
    gemini_base_url: str | None = None
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    openai_api_key_secret_arn: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_seconds: int = 30
    gemini_timeout_seconds: int = 30
    thumbnail_width: int = 256
    thumbnail_height: int = 256
    preview_size: int = 1440
    thumbnail_format: str = "webp"
    keep_location: bool = False
    job_lease_seconds: int = 90
    job_max_attempts: int = 5
    job_retry_base_seconds: float = 10.0
    job_retry_max_seconds: float = 900.0
    job_retry_window_hours: float = 24.0
    worker_threads: int = 2
    trash_retention_days: float = 30.0

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def thumbnail_box(self) -> tuple[int, int]:
        return (self.thumbnail_width, self.thumbnail_height)

    @property
    def uses_s3(self) -> bool:
        return self.s3_image_bucket is not None

    @property
    def uses_mysql(self) -> bool:
        return self.db_host is not None

    @property
    def caption_provider_configured(self) -> bool:
        """An OpenAI-compatible server needs no key (a local one takes none); Gemini does."""
        return self.caption_provider == "openai" or bool(self.gemini_api_key)

    @property
    def public_mode(self) -> bool:
        return self.auth_mode == "public"


def load_settings(environ: Mapping[str, str] | None = None, read_dotenv: bool = True) -> Settings:
    """Read every setting from `environ` (default: the process environment, plus the nearest `.env`).

    A relative DATA_DIR is taken from the folder of the `.env` that was read, so `make run` at the root and
    `cd web_app && python app.py` use the same data.
    """
    base = None
    if environ is None:
        if read_dotenv:
            from dotenv import find_dotenv, load_dotenv

            dotenv = find_dotenv(usecwd=True)
            if dotenv:
                load_dotenv(dotenv, override=False)  # real environment variables win
                base = Path(dotenv).parent
        environ = os.environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name, setting.default)
        try:
            values[setting.name.lower()] = setting.parse(raw)
        except ValueError as error:
            raise ConfigurationError(f"{setting.name}={raw!r} is not valid: {error}") from error
    if base is not None and not Path(values["data_dir"]).is_absolute():
        values["data_dir"] = str(base / values["data_dir"])
    settings = Settings(**values)
    if settings.uses_s3 != (settings.s3_thumbnail_bucket is not None):
        raise ConfigurationError("S3_IMAGE_BUCKET and S3_THUMBNAIL_BUCKET must be set together (or neither).")
    return settings
