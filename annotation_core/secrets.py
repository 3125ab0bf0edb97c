"""Fill secret settings from AWS Secrets Manager when only their ARNs are configured."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from annotation_core.errors import ConfigurationError
from annotation_core.settings import Settings


def resolve_secrets(settings: Settings, client: Any = None) -> Settings:
    """Return settings with the DB password, Gemini key and Flask key read from their secrets."""
    wanted = {
        "db_password": (settings.db_secret_arn, "DB_SECRET_ARN", not settings.db_password),
        "gemini_api_key": (
            settings.gemini_api_key_secret_arn,
            "GEMINI_API_KEY_SECRET_ARN",
            not settings.gemini_api_key,
        ),
        "flask_secret_key": (
            settings.flask_secret_key_secret_arn,
            "FLASK_SECRET_KEY_SECRET_ARN",
            not settings.flask_secret_key,
        ),
    }
    values = {}
    for field, (arn, variable, missing) in wanted.items():
        if arn and missing:
            if client is None:
                import boto3

                client = boto3.client("secretsmanager")
            values[field] = _read(client, arn, variable)
    return dataclasses.replace(settings, **values) if values else settings


def _read(client: Any, arn: str, variable: str) -> str:
    try:
        secret = client.get_secret_value(SecretId=arn)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as error:
        raise ConfigurationError(f"{variable}: could not read secret {arn}: {error}") from error
    # RDS-managed secrets are JSON ({"username": ..., "password": ...}); ours are the bare value.
    if secret.lstrip().startswith("{"):
        try:
            return json.loads(secret)["password"]
        except (ValueError, KeyError) as error:
            raise ConfigurationError(f"{variable}: secret {arn} is JSON without a 'password' key.") from error
    return secret
