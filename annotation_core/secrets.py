"""Read secret settings from AWS Secrets Manager when only their ARNs are configured."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from annotation_core.errors import ConfigurationError
from annotation_core.settings import Settings

log = logging.getLogger(__name__)


class SecretValue:
    """One secret, fetched on first use and again on request (RDS rotates its password every few days)."""

    def __init__(self, arn: str, variable: str, client: Any = None):
        self.arn = arn
        self.variable = variable
        self._client = client
        self._value: str | None = None
        self._lock = threading.Lock()

    def get(self, refresh: bool = False) -> str:
        with self._lock:
            if self._value is None or refresh:
                self._value = self._fetch()
            return self._value

    def _fetch(self) -> str:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        try:
            secret = self._client.get_secret_value(SecretId=self.arn).get("SecretString") or ""
        except (BotoCoreError, ClientError) as error:
            raise ConfigurationError(f"{self.variable}: could not read secret {self.arn}: {error}") from error
        # RDS-managed secrets are JSON ({"username": ..., "password": ...}); ours hold the bare value.
        if secret.lstrip().startswith("{"):
            try:
                return json.loads(secret)["password"]
            except (ValueError, KeyError) as error:
                raise ConfigurationError(f"{self.variable}: secret {self.arn} is JSON without 'password'.") from error
        return secret.strip()


def resolve_secrets(settings: Settings, client: Any = None) -> Settings:
    """Fill the Flask key, the admin password and the caption providers' keys from their secrets; the DB
    password is read per
    connection."""
    values: dict[str, str | None] = {}
    if settings.flask_secret_key_secret_arn and not settings.flask_secret_key:
        flask_key = SecretValue(settings.flask_secret_key_secret_arn, "FLASK_SECRET_KEY_SECRET_ARN", client).get()
        if not flask_key:
            raise ConfigurationError(
                f"FLASK_SECRET_KEY_SECRET_ARN: secret {settings.flask_secret_key_secret_arn} is empty."
            )
        values["flask_secret_key"] = flask_key
    if settings.admin_password_secret_arn and not settings.admin_password:
        values["admin_password"] = SecretValue(
            settings.admin_password_secret_arn, "ADMIN_PASSWORD_SECRET_ARN", client
        ).get()
    if settings.gemini_api_key_secret_arn and not settings.gemini_api_key:
        values["gemini_api_key"] = _optional(
            SecretValue(settings.gemini_api_key_secret_arn, "GEMINI_API_KEY_SECRET_ARN", client)
        )
    if settings.openai_api_key_secret_arn and not settings.openai_api_key:
        values["openai_api_key"] = _optional(
            SecretValue(settings.openai_api_key_secret_arn, "OPENAI_API_KEY_SECRET_ARN", client)
        )
    return dataclasses.replace(settings, **values) if values else settings


def _optional(secret: SecretValue) -> str | None:
    """A key the operator has not stored yet is 'no key': caption jobs then fail and say how to fix it."""
    try:
        return secret.get() or None
    except ConfigurationError as error:
        log.warning("%s; captions will fail until the key is stored", error.message)
        return None
