"""The composition root: a lazy start that leaves the schema alone unless asked, the database pool a Lambda
and a web process get, and Pillow's own pixel guard never stricter than MAX_IMAGE_PIXELS."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from PIL import Image

from annotation_core.bootstrap import bootstrap
from annotation_core.settings import Settings
from benchmarks.app_server import free_port


def test_bootstrap_connects_lazily_and_brings_the_schema_up_to_date_only_when_asked(tmp_path):
    settings = Settings(data_dir=str(tmp_path))
    database = tmp_path / "annotations.db"

    services = bootstrap(settings)
    services.close()
    assert not database.exists(), "nothing connected yet"

    services = bootstrap(settings, migrate=True)
    try:
        assert {"images", "users", "api_tokens", "rate_limits"} <= set(sa.inspect(services.engine).get_table_names())
    finally:
        services.close()


def mysql_settings(tmp_path) -> Settings:
    """MySQL on a port nothing listens on: building the services never connects, so no server is needed."""
    return Settings(data_dir=str(tmp_path), db_host="127.0.0.1", db_port=free_port(), db_user="app", db_password="pw")


def test_a_lambda_container_keeps_one_database_connection_and_a_web_process_a_pool(tmp_path):
    lambda_pool = bootstrap(mysql_settings(tmp_path), single_connection=True).engine.pool
    web_pool = bootstrap(mysql_settings(tmp_path)).engine.pool

    assert (lambda_pool.size(), lambda_pool._max_overflow) == (1, 0)
    assert (web_pool.size(), web_pool._max_overflow) == (4, 4)


@pytest.mark.parametrize(("limit", "pillows"), [(1_000, 89_478_485), (200_000_000, 200_000_000)])
def test_pillows_own_guard_is_never_stricter_than_max_image_pixels(tmp_path, monkeypatch, limit, pillows):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)  # Pillow's default
    bootstrap(Settings(data_dir=str(tmp_path), max_image_pixels=limit)).close()
    guard = Image.MAX_IMAGE_PIXELS
    assert guard == pillows, "raised to ours when ours is larger, never lowered"
