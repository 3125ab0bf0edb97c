"""The application factory: where its signing key comes from, and what it starts in embedded mode."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor

import click
from flask.cli import ScriptInfo

from annotation_core.announcers import LocalAnnouncer
from annotation_core.bootstrap import bootstrap
from annotation_core.settings import Settings
from web_app.app import _secret_key, create_app


def make_app(engine, **settings):
    app = create_app(services=bootstrap(Settings(**settings), engine=engine))
    if app.extensions["local_worker"] is not None:
        app.extensions["local_worker"].stop()
    return app


def test_local_key_is_kept_in_data_dir_and_survives_restarts(tmp_path, engine):
    first = make_app(engine, data_dir=str(tmp_path))
    second = make_app(engine, data_dir=str(tmp_path))

    assert first.secret_key == second.secret_key
    assert len(first.secret_key) == 64
    key_file = tmp_path / ".flask-secret-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".flask")] == [".flask-secret-key"]


def test_workers_starting_together_agree_on_one_key(tmp_path, engine):
    # Gunicorn's workers are processes; threads race for the key file the same way. Only the key is made in
    # threads: building whole Flask apps at once in threads trips CPython 3.11's non-thread-safe AST
    # recursion counter when werkzeug compiles the routes ("AST constructor recursion depth mismatch").
    settings = Settings(data_dir=str(tmp_path))
    with ThreadPoolExecutor(4) as pool:
        keys = set(pool.map(lambda _: _secret_key(settings), range(4)))
    assert len(keys) == 1
    assert make_app(engine, data_dir=str(tmp_path)).secret_key in keys


def test_configured_key_wins(tmp_path, engine):
    app = make_app(engine, data_dir=str(tmp_path), flask_secret_key="configured")
    assert app.secret_key == "configured"
    assert not (tmp_path / ".flask-secret-key").exists()


def test_embedded_mode_starts_one_local_worker_per_data_dir(tmp_path, engine):
    first = create_app(services=bootstrap(Settings(data_dir=str(tmp_path)), engine=engine))
    second = create_app(services=bootstrap(Settings(data_dir=str(tmp_path)), engine=engine))
    try:
        worker = first.extensions["local_worker"]
        assert worker is not None
        assert first.extensions["annotation"].announcer is worker.announcer  # uploads go straight to its queue
        assert second.extensions["local_worker"] is None  # the machine already has its worker
        assert isinstance(second.extensions["annotation"].announcer, LocalAnnouncer)  # datagrams to it
    finally:
        first.extensions["local_worker"].stop()


def test_a_flask_command_starts_no_worker_but_another_click_program_does(tmp_path, engine):
    def app_built_inside(context_object):
        with click.Context(click.Command("program"), obj=context_object):
            return create_app(services=bootstrap(Settings(data_dir=str(tmp_path)), engine=engine))

    assert app_built_inside(ScriptInfo()).extensions["local_worker"] is None  # e.g. `flask users list`
    worker = app_built_inside(None).extensions["local_worker"]  # e.g. mutmut, which runs pytest inside click
    assert worker is not None
    worker.stop()
