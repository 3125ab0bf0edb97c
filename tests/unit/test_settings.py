"""Settings: defaults, typed parsing, errors that name the variable, docs listing every setting, `.env`."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from annotation_core.errors import ConfigurationError
from annotation_core.settings import SETTINGS, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
NAMES = [setting.name for setting in SETTINGS]


def test_defaults_from_an_empty_environment_match_the_dataclass_defaults():
    settings = load_settings({})
    assert settings == Settings()
    assert settings.port == 5000
    assert settings.log_level == "INFO"
    assert settings.db_host is None and not settings.uses_mysql
    assert settings.s3_image_bucket is None and not settings.uses_s3
    assert settings.gemini_api_key is None
    assert settings.gemini_base_url is None
    assert settings.thumbnail_box == (256, 256)
    assert settings.max_upload_bytes == 20 * 1024 * 1024


def test_every_setting_default_parses_to_the_dataclass_default():
    defaults = Settings()
    for setting in SETTINGS:
        assert setting.parse(setting.default) == getattr(defaults, setting.name.lower()), setting.name


def test_typed_settings_parse():
    settings = load_settings(
        {
            "DATA_DIR": " /srv/data ",
            "PORT": "8080",
            "LOG_LEVEL": "debug",
            "FLASK_SECRET_KEY": "s3cret",
            "MAX_UPLOAD_MB": "5",
            "MAX_IMAGE_PIXELS": "1000",
            "DB_HOST": "db.example.internal",
            "DB_PORT": "3307",
            "DB_USER": "app",
            "DB_PASSWORD": "pw",
            "DB_NAME": "images",
            "DB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
            "S3_IMAGE_BUCKET": "originals",
            "S3_THUMBNAIL_BUCKET": "thumbs",
            "EVENT_BUS_NAME": "default",
            "GEMINI_API_KEY": "key",
            "GEMINI_MODEL_NAME": "gemini-test",
            "GEMINI_PROMPT": "Say what you see.",
            "GEMINI_BASE_URL": "https://gateway.example.com/gemini",
            "GEMINI_TIMEOUT_SECONDS": "12",
            "JOB_MAX_ATTEMPTS": "7",
            "JOB_RETRY_BASE_SECONDS": "0.5",
            "JOB_RETRY_MAX_SECONDS": "60",
            "JOB_RETRY_WINDOW_HOURS": "2.5",
            "THUMBNAIL_WIDTH": "320",
            "THUMBNAIL_HEIGHT": "200",
            "JOB_LEASE_SECONDS": "60",
            "WORKER_THREADS": "4",
        }
    )
    assert settings.data_dir == "/srv/data"
    assert settings.port == 8080 and isinstance(settings.port, int)
    assert settings.log_level == "DEBUG"
    assert settings.flask_secret_key == "s3cret"
    assert settings.max_upload_bytes == 5 * 1024 * 1024
    assert settings.max_image_pixels == 1000
    assert settings.uses_mysql and settings.db_host == "db.example.internal" and settings.db_port == 3307
    assert (settings.db_user, settings.db_password, settings.db_name) == ("app", "pw", "images")
    assert settings.db_secret_arn.endswith(":secret:db")
    assert settings.uses_s3 and settings.s3_thumbnail_bucket == "thumbs"
    assert settings.event_bus_name == "default"
    assert settings.gemini_api_key == "key"
    assert settings.gemini_model_name == "gemini-test"
    assert settings.gemini_prompt == "Say what you see."
    assert settings.gemini_base_url == "https://gateway.example.com/gemini"
    assert settings.gemini_timeout_seconds == 12
    assert (settings.job_max_attempts, settings.job_retry_base_seconds) == (7, 0.5)
    assert (settings.job_retry_max_seconds, settings.job_retry_window_hours) == (60.0, 2.5)
    assert settings.thumbnail_box == (320, 200)
    assert settings.job_lease_seconds == 60
    assert settings.worker_threads == 4


def test_auth_settings_parse():
    settings = load_settings(
        {"AUTH_MODE": " Public ", "HTTPS_ONLY": "true", "PROXY_COUNT": "1", "SESSION_HOURS": "0.5"}
    )
    assert settings.public_mode and settings.https_only
    assert (settings.proxy_count, settings.session_hours) == (1, 0.5)
    assert not load_settings({"HTTPS_ONLY": "0"}).https_only


def test_blank_optional_values_mean_unset():
    settings = load_settings({"DB_HOST": "  ", "GEMINI_API_KEY": "", "GEMINI_BASE_URL": " "})
    assert settings.db_host is None
    assert settings.gemini_api_key is None
    assert settings.gemini_base_url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("THUMBNAIL_WIDTH", "0"),
        ("THUMBNAIL_HEIGHT", "-5"),
        ("MAX_UPLOAD_MB", "1.5"),
        ("LOG_LEVEL", "LOUD"),
        ("GEMINI_BASE_URL", "ftp://x"),
        ("WORKER_THREADS", ""),
        ("AUTH_MODE", "open"),
        ("HTTPS_ONLY", "maybe"),
        ("PASSWORD_HASH_MEMORY_KIB", "8"),
    ],
)
def test_a_wrong_value_raises_configuration_error_naming_the_variable(name, value):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({name: value})
    assert name in str(caught.value)
    assert repr(value) in caught.value.message


def test_log_level_error_lists_the_accepted_levels():
    with pytest.raises(ConfigurationError, match="DEBUG, INFO, WARNING, ERROR, CRITICAL"):
        load_settings({"LOG_LEVEL": "LOUD"})


# Some of the ranges settings.py enforces, written out: both ends are accepted, one step beyond is refused.
RANGES = [
    ("PORT", "1", "65535", "0", "65536", "must be between 1 and 65535"),
    ("THUMBNAIL_WIDTH", "16", "4096", "15", "4097", "must be between 16 and 4096"),
    ("PROXY_COUNT", "0", "5", "-1", "6", "must be between 0 and 5"),
    ("MAX_IMAGE_PIXELS", "1", "2000000000", "0", "2000000001", "must be between 1 and 2000000000"),
    ("JOB_RETRY_BASE_SECONDS", "0.1", "3600", "0.09", "3600.5", "must be between 0.1 and 3600"),
    ("SESSION_HOURS", "0.01", "2160", "0.009", "2160.01", "must be between 0.01 and 2160"),
]


@pytest.mark.parametrize(("name", "low", "high", "below", "above", "phrase"), RANGES, ids=[r[0] for r in RANGES])
def test_a_range_accepts_both_ends_and_refuses_one_step_beyond_saying_the_range(name, low, high, below, above, phrase):
    field = name.lower()
    assert getattr(load_settings({name: low}), field) == float(low)
    assert getattr(load_settings({name: high}), field) == float(high)
    for outside in (below, above):
        with pytest.raises(ConfigurationError) as caught:
            load_settings({name: outside})
        assert caught.value.message == f"{name}={outside!r} is not valid: {phrase}"


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("LOG_LEVEL", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("AUTH_MODE", "open", "must be one of password, public"),
        ("HTTPS_ONLY", "maybe", "must be true or false"),
        ("GEMINI_BASE_URL", "ftp://x", "must start with http:// or https://"),
        ("CAPTION_LANGUAGE", "english!", "must be a BCP 47 language tag such as en, de, ja or pt-BR"),
    ],
)
def test_a_refused_value_says_what_would_be_accepted(name, value, reason):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({name: value})
    assert caught.value.message == f"{name}={value!r} is not valid: {reason}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), (" YES ", True), ("false", False), ("0", False), ("no", False), ("", False)],
)
def test_flags_read_the_usual_spellings(raw, expected):
    assert load_settings({"KEEP_LOCATION": raw}).keep_location is expected


def test_base_urls_may_be_plain_http_for_a_server_on_this_machine():
    settings = load_settings({"GEMINI_BASE_URL": "http://127.0.0.1:8080", "OPENAI_BASE_URL": " https://llm.example "})
    assert (settings.gemini_base_url, settings.openai_base_url) == ("http://127.0.0.1:8080", "https://llm.example")


def test_language_tags_with_a_region_or_script_are_accepted_and_trimmed():
    assert load_settings({"CAPTION_LANGUAGE": " pt-BR "}).caption_language == "pt-BR"
    assert load_settings({"CAPTION_LANGUAGE": "zh-Hant-TW"}).caption_language == "zh-Hant-TW"


def test_which_provider_counts_as_configured():
    assert not Settings().caption_provider_configured  # Gemini without a key
    assert Settings(gemini_api_key="k").caption_provider_configured
    assert Settings(caption_provider="openai").caption_provider_configured  # a local server needs no key
    assert not Settings().public_mode and Settings(auth_mode="public").public_mode


@pytest.mark.parametrize("only", ["S3_IMAGE_BUCKET", "S3_THUMBNAIL_BUCKET"])
def test_s3_buckets_must_be_set_together(only):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({only: "a-bucket"})
    assert caught.value.message == "S3_IMAGE_BUCKET and S3_THUMBNAIL_BUCKET must be set together (or neither)."


def test_setting_names_match_settings_fields_one_to_one():
    fields = [field.name for field in dataclasses.fields(Settings)]
    assert len(NAMES) == len(set(NAMES))
    assert sorted(name.lower() for name in NAMES) == sorted(fields)
    assert all(name == name.upper() for name in NAMES)


def test_every_setting_is_documented_in_env_example():
    text = (ROOT / "env.example").read_text(encoding="utf-8")
    assigned = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))
    assert set(NAMES) - assigned == set(), "settings missing from env.example"
    assert assigned - set(NAMES) == set(), "env.example lists variables the code does not read"


def test_every_setting_is_documented_in_readme():
    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing"
    text = readme.read_text(encoding="utf-8")
    missing = [name for name in NAMES if not re.search(rf"\b{name}\b", text)]
    assert missing == [], f"settings missing from README.md: {missing}"


@pytest.mark.parametrize("setting", SETTINGS, ids=NAMES)
def test_the_readme_and_env_example_say_what_the_code_says(setting):
    """Each setting's README row and env.example entry give the default and help text the code has."""
    default = f"`{setting.default}`" if setting.default else "(empty)"
    assert f"| `{setting.name}` | {default} | {setting.help} |" in (ROOT / "README.md").read_text(encoding="utf-8")
    env = (ROOT / "env.example").read_text(encoding="utf-8")
    value = f'"{setting.default}"' if " " in setting.default else setting.default
    assert f"# {setting.help}\n{setting.name}={value}\n" in env


@pytest.fixture
def clean_environ(monkeypatch):
    """No setting in the process environment; whatever the test (or `.env` loading) adds is undone."""
    for name in NAMES:
        # setenv first so monkeypatch records the original (possibly absent) value and restores it.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return monkeypatch


def test_dotenv_is_found_from_the_cwd_upward_and_real_environment_wins(tmp_path, clean_environ):
    (tmp_path / ".env").write_text(
        'PORT=6123\nLOG_LEVEL=warning\nGEMINI_MODEL_NAME=from-dotenv\nGEMINI_PROMPT="Caption, briefly."\n',
        encoding="utf-8",
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    clean_environ.chdir(nested)
    clean_environ.setenv("GEMINI_MODEL_NAME", "from-environment")

    settings = load_settings()

    assert settings.port == 6123
    assert settings.log_level == "WARNING"
    assert settings.gemini_prompt == "Caption, briefly."
    assert settings.gemini_model_name == "from-environment"
    assert os.environ["GEMINI_MODEL_NAME"] == "from-environment"


def test_dotenv_is_not_read_when_disabled(tmp_path, clean_environ):
    (tmp_path / ".env").write_text("PORT=6123\n", encoding="utf-8")
    clean_environ.chdir(tmp_path)
    assert load_settings(read_dotenv=False).port == 5000


def test_a_wrong_value_in_dotenv_names_the_variable(tmp_path, clean_environ):
    (tmp_path / ".env").write_text("THUMBNAIL_WIDTH=0\n", encoding="utf-8")
    clean_environ.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match="THUMBNAIL_WIDTH"):
        load_settings()


def test_a_relative_data_dir_in_dotenv_is_taken_from_the_folder_of_the_dotenv(tmp_path, clean_environ):
    (tmp_path / ".env").write_text("DATA_DIR=data\n", encoding="utf-8")
    nested = tmp_path / "web_app"
    nested.mkdir()
    clean_environ.chdir(nested)  # as `cd web_app && python app.py` does
    assert load_settings().data_dir == str(tmp_path / "data")
    clean_environ.setenv("DATA_DIR", "/srv/photos")
    assert load_settings().data_dir == "/srv/photos", "an absolute one is kept"
