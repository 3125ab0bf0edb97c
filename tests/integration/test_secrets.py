"""Secret settings read from AWS Secrets Manager (moto) when only their ARNs are configured.

The Flask and Gemini keys are filled in once by `resolve_secrets`; the MySQL password is a `SecretValue`
read per new connection (RDS rotates it), which `bootstrap` hands to the engine.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws

from annotation_core.bootstrap import bootstrap
from annotation_core.errors import ConfigurationError
from annotation_core.secrets import SecretValue, resolve_secrets
from annotation_core.settings import Settings
from benchmarks.app_server import free_port

MISSING_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist-AbCdEf"


@pytest.fixture
def secretsmanager(aws_env) -> Iterator:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def make_secret(client, name: str, value: str) -> str:
    return client.create_secret(Name=name, SecretString=value)["ARN"]


def rds_secret(client, name: str, password: str, username: str = "admin") -> str:
    """The shape RDS stores for a managed master password."""
    return make_secret(client, name, json.dumps({"username": username, "password": password}))


class Untouchable:
    """A client that fails the test if anything is asked of it."""

    def __getattr__(self, name):
        raise AssertionError(f"the secrets client was used ({name}) although nothing needed it")


class CountingClient:
    """Passes calls through to moto and counts the reads."""

    def __init__(self, client):
        self.client = client
        self.reads = 0

    def get_secret_value(self, **kwargs):
        self.reads += 1
        return self.client.get_secret_value(**kwargs)


# --- the MySQL password ---


def test_rds_style_json_secret_gives_the_db_password(secretsmanager):
    arn = rds_secret(secretsmanager, "rds!db-0123456789abcdef", 'p@ss {word} "quoted"')
    assert SecretValue(arn, "DB_SECRET_ARN", secretsmanager).get() == 'p@ss {word} "quoted"'


def test_db_password_is_cached_and_read_again_on_refresh(secretsmanager):
    arn = rds_secret(secretsmanager, "rds!db-rotating", "first")
    client = CountingClient(secretsmanager)
    secret = SecretValue(arn, "DB_SECRET_ARN", client)
    assert secret.get() == "first"
    secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "admin", "password": "second"}))
    assert secret.get() == "first", "cached until asked to refresh"
    assert client.reads == 1
    assert secret.get(refresh=True) == "second"
    assert secret.get() == "second"
    assert client.reads == 2


def test_json_secret_without_password_raises_configuration_error(secretsmanager):
    arn = make_secret(secretsmanager, "rds-broken", json.dumps({"username": "admin"}))
    with pytest.raises(ConfigurationError, match=r"^DB_SECRET_ARN: .*'password'"):
        SecretValue(arn, "DB_SECRET_ARN", secretsmanager).get()


def test_missing_db_secret_raises_configuration_error_naming_the_variable(secretsmanager):
    with pytest.raises(ConfigurationError) as caught:
        SecretValue(MISSING_ARN, "DB_SECRET_ARN", secretsmanager).get()
    assert caught.value.message.startswith("DB_SECRET_ARN:")
    assert MISSING_ARN in caught.value.message


def test_resolve_secrets_leaves_the_db_password_to_the_engine(secretsmanager):
    arn = rds_secret(secretsmanager, "rds!db-lazy", "pw")
    settings = Settings(db_host="db.internal", db_secret_arn=arn)
    assert resolve_secrets(settings, Untouchable()) is settings


def test_bootstrap_reads_the_db_password_from_its_secret_when_it_connects(secretsmanager, tmp_path):
    arn = rds_secret(secretsmanager, "rds!db-on-connect", "from-the-secret")
    settings = Settings(data_dir=str(tmp_path), db_host="127.0.0.1", db_port=free_port(), db_secret_arn=arn)
    client = CountingClient(secretsmanager)
    services = bootstrap(settings, secrets_client=client)
    assert client.reads == 0, "not before a connection is needed"

    with pytest.raises(sa.exc.DBAPIError):  # nothing listens on the port: the secret was read, then refused
        services.engine.connect()

    assert client.reads == 1
    explicit = bootstrap(dataclasses.replace(settings, db_password="explicit"), secrets_client=Untouchable())
    with pytest.raises(sa.exc.DBAPIError):
        explicit.engine.connect()


def test_bootstrap_fills_the_settings_from_secrets_with_the_client_given(secretsmanager, tmp_path):
    arn = make_secret(secretsmanager, "image-annotation/flask-secret-key", "k" * 64)
    client = CountingClient(secretsmanager)
    services = bootstrap(Settings(data_dir=str(tmp_path), flask_secret_key_secret_arn=arn), secrets_client=client)
    assert services.settings.flask_secret_key == "k" * 64
    assert client.reads == 1


def test_a_missing_db_secret_is_named_when_connecting(secretsmanager, tmp_path):
    settings = Settings(data_dir=str(tmp_path), db_host="127.0.0.1", db_port=free_port(), db_secret_arn=MISSING_ARN)
    services = bootstrap(settings, secrets_client=secretsmanager)
    with pytest.raises(ConfigurationError) as caught:
        services.engine.connect()
    assert caught.value.message.startswith(f"DB_SECRET_ARN: could not read secret {MISSING_ARN}: ")


@pytest.mark.mysql
def test_bootstrap_connects_to_mysql_with_the_password_from_the_rds_secret(secretsmanager, mysql_engine, tmp_path):
    with mysql_engine.begin() as conn:
        conn.exec_driver_sql("DROP USER IF EXISTS 'secret_reader'@'%'")
        conn.exec_driver_sql("CREATE USER 'secret_reader'@'%' IDENTIFIED BY 'from-the-secret'")
        conn.exec_driver_sql(f"GRANT SELECT ON `{mysql_engine.url.database}`.* TO 'secret_reader'@'%'")
    url = mysql_engine.url
    arn = rds_secret(secretsmanager, "rds!db-bootstrap", "from-the-secret", username="secret_reader")
    settings = Settings(
        data_dir=str(tmp_path),
        db_host=url.host,
        db_port=url.port or 3306,
        db_user="secret_reader",
        db_name=url.database,
        db_secret_arn=arn,
    )
    services = bootstrap(settings, secrets_client=secretsmanager)
    try:
        assert services.settings.db_password == "", "the password never sits in the settings"
        with services.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT CURRENT_USER()")).scalar().startswith("secret_reader@")
    finally:
        services.close()
        with mysql_engine.begin() as conn:
            conn.exec_driver_sql("DROP USER IF EXISTS 'secret_reader'@'%'")


# --- the Flask and Gemini keys ---


def test_plain_secrets_fill_the_gemini_key_and_flask_key(secretsmanager):
    gemini = make_secret(secretsmanager, "image-annotation/gemini-api-key", "AIza-test-key\n")
    flask = make_secret(secretsmanager, "image-annotation/flask-secret-key", "f" * 64)
    settings = resolve_secrets(
        Settings(gemini_api_key_secret_arn=gemini, flask_secret_key_secret_arn=flask), secretsmanager
    )
    assert settings.gemini_api_key == "AIza-test-key", "surrounding whitespace is dropped"
    assert settings.flask_secret_key == "f" * 64
    assert settings.db_password == ""


def test_explicit_values_are_not_overwritten(secretsmanager):
    explicit = Settings(
        db_password="explicit-db",
        db_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
        gemini_api_key="explicit-gemini",
        gemini_api_key_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:gemini-AbCdEf",
        flask_secret_key="explicit-flask",
        flask_secret_key_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:flask-AbCdEf",
    )
    assert resolve_secrets(explicit, Untouchable()) == explicit

    flask_arn = make_secret(secretsmanager, "flask", "from-secret")
    gemini_arn = make_secret(secretsmanager, "gemini", "not-used")
    mixed = Settings(
        gemini_api_key="explicit-gemini", gemini_api_key_secret_arn=gemini_arn, flask_secret_key_secret_arn=flask_arn
    )
    client = CountingClient(secretsmanager)
    resolved = resolve_secrets(mixed, client)
    assert resolved.gemini_api_key == "explicit-gemini"
    assert resolved.flask_secret_key == "from-secret"
    assert client.reads == 1, "only the secret that was needed is read"


def test_no_arns_means_no_client_at_all(monkeypatch):
    settings = Settings(gemini_api_key="k", db_host="db.internal")
    assert resolve_secrets(settings, Untouchable()) is settings

    def no_boto(*args, **kwargs):
        raise AssertionError("boto3.client was called although no secret ARN is set")

    monkeypatch.setattr(boto3, "client", no_boto)
    assert resolve_secrets(settings) is settings
    assert resolve_secrets(Settings()) == Settings()


def test_client_is_made_from_the_environment_when_not_given(secretsmanager):
    arn = make_secret(secretsmanager, "flask", "env-made-client")
    assert resolve_secrets(Settings(flask_secret_key_secret_arn=arn)).flask_secret_key == "env-made-client"


def test_missing_flask_secret_raises_configuration_error_naming_the_variable(secretsmanager):
    with pytest.raises(ConfigurationError) as caught:
        resolve_secrets(Settings(flask_secret_key_secret_arn=MISSING_ARN), secretsmanager)
    assert caught.value.message.startswith("FLASK_SECRET_KEY_SECRET_ARN:")
    assert MISSING_ARN in caught.value.message


def test_empty_flask_secret_raises_configuration_error(secretsmanager):
    arn = secretsmanager.create_secret(Name="flask-binary-only", SecretBinary=b"\x00\x01")["ARN"]
    with pytest.raises(ConfigurationError, match=r"^FLASK_SECRET_KEY_SECRET_ARN: .*empty"):
        resolve_secrets(Settings(flask_secret_key_secret_arn=arn), secretsmanager)


def test_missing_gemini_secret_means_no_key_and_says_which_variable(secretsmanager, caplog):
    with caplog.at_level(logging.WARNING, logger="annotation_core.secrets"):
        settings = resolve_secrets(Settings(gemini_api_key_secret_arn=MISSING_ARN), secretsmanager)
    assert settings.gemini_api_key is None, "caption jobs then fail and say how to fix it"
    [record] = [r for r in caplog.records if r.name == "annotation_core.secrets"]
    assert record.levelno == logging.WARNING
    assert "GEMINI_API_KEY_SECRET_ARN" in record.getMessage() and MISSING_ARN in record.getMessage()


def test_blank_gemini_secret_means_no_key(secretsmanager):
    arn = make_secret(secretsmanager, "gemini-placeholder", "   ")
    assert resolve_secrets(Settings(gemini_api_key_secret_arn=arn), secretsmanager).gemini_api_key is None


def test_json_secret_with_whitespace_before_it_still_gives_the_password(secretsmanager):
    arn = make_secret(secretsmanager, "pasted", '\n  {"username": "admin", "password": "inner"}\n')
    assert SecretValue(arn, "DB_SECRET_ARN", secretsmanager).get() == "inner"


def test_missing_gemini_secret_warning_names_the_variable_the_secret_and_the_consequence(secretsmanager, caplog):
    with caplog.at_level(logging.WARNING, logger="annotation_core.secrets"):
        resolve_secrets(Settings(gemini_api_key_secret_arn=MISSING_ARN), secretsmanager)
    [record] = [r for r in caplog.records if r.name == "annotation_core.secrets"]
    assert record.getMessage().startswith(f"GEMINI_API_KEY_SECRET_ARN: could not read secret {MISSING_ARN}: ")
    assert record.getMessage().endswith("; captions will fail until the key is stored")


# --- the admin password and the OpenAI key ---


def test_admin_password_is_read_from_its_secret_with_the_client_given(secretsmanager):
    arn = make_secret(secretsmanager, "image-annotation/admin-password", "from-the-secret-1\n")
    client = CountingClient(secretsmanager)
    settings = resolve_secrets(Settings(admin_password_secret_arn=arn), client)
    assert settings.admin_password == "from-the-secret-1"
    assert client.reads == 1

    explicit = Settings(admin_password="explicit-password", admin_password_secret_arn=arn)
    assert resolve_secrets(explicit, Untouchable()) is explicit


def test_missing_admin_password_secret_stops_start_up_naming_the_variable(secretsmanager):
    with pytest.raises(ConfigurationError) as caught:
        resolve_secrets(Settings(admin_password_secret_arn=MISSING_ARN), secretsmanager)
    assert caught.value.message.startswith(f"ADMIN_PASSWORD_SECRET_ARN: could not read secret {MISSING_ARN}: ")


def test_openai_key_is_read_from_its_secret_and_a_missing_one_means_no_key(secretsmanager, caplog):
    arn = make_secret(secretsmanager, "image-annotation/openai-api-key", " sk-test-key ")
    client = CountingClient(secretsmanager)
    assert resolve_secrets(Settings(openai_api_key_secret_arn=arn), client).openai_api_key == "sk-test-key"
    assert client.reads == 1
    explicit = Settings(openai_api_key="explicit-openai", openai_api_key_secret_arn=arn)
    assert resolve_secrets(explicit, Untouchable()) is explicit

    with caplog.at_level(logging.WARNING, logger="annotation_core.secrets"):
        settings = resolve_secrets(Settings(openai_api_key_secret_arn=MISSING_ARN), secretsmanager)
    assert settings.openai_api_key is None
    [record] = [r for r in caplog.records if r.name == "annotation_core.secrets"]
    assert record.getMessage().startswith(f"OPENAI_API_KEY_SECRET_ARN: could not read secret {MISSING_ARN}: ")


def test_the_gemini_key_is_read_with_the_client_given(secretsmanager):
    arn = make_secret(secretsmanager, "image-annotation/gemini-api-key", "AIza-counted")
    client = CountingClient(secretsmanager)
    assert resolve_secrets(Settings(gemini_api_key_secret_arn=arn), client).gemini_api_key == "AIza-counted"
    assert client.reads == 1
