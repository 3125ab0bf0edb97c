"""Application factory; `python web_app/app.py` (or `cd web_app && python app.py`) starts the development
server on PORT, with this machine's job worker in the same process unless one already runs."""

from __future__ import annotations

import logging
import os
import secrets
import sys
import tempfile
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run as a script: import the project's packages from its root, not this folder's modules as top-level ones.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from flask import Flask  # noqa: E402

from annotation_core.announcers import LocalAnnouncer  # noqa: E402
from annotation_core.bootstrap import Services, bootstrap  # noqa: E402
from annotation_core.errors import ConfigurationError  # noqa: E402
from annotation_core.logs import configure_logging  # noqa: E402
from annotation_core.settings import Settings, load_settings  # noqa: E402
from web_app import api, commands, errors, health, image_forms, media, pages, security, uploads  # noqa: E402

log = logging.getLogger(__name__)

REQUEST_FILES_LIMIT = 20  # files in one upload request; each is also held to MAX_UPLOAD_MB


def create_app(settings: Settings | None = None, services: Services | None = None, *, run_worker: bool = True) -> Flask:
    """Build the Flask app; with no arguments, settings come from the environment and `.env`.

    In embedded mode the app also runs this machine's job worker unless one already runs (or `run_worker`
    is False: its sweep would change rows a benchmark measures).
    """
    if settings is None and services is None:
        settings = load_settings()
        configure_logging(settings.log_level)
    if services is None:
        services = bootstrap(settings, migrate=True)
    settings = services.settings
    worker = None
    if run_worker and isinstance(services.announcer, LocalAnnouncer):  # embedded mode: does a worker run?
        worker = _start_local_worker(services)
        if worker is not None:
            services = worker.services  # announces straight onto the worker's queue

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes * REQUEST_FILES_LIMIT + 2**20,
    )
    app.json.sort_keys = False  # documents keep the order presenters give them (id first)
    app.extensions["annotation"] = services
    app.extensions["local_worker"] = worker
    for blueprint in (pages.bp, uploads.bp, image_forms.bp, api.bp, media.bp, health.bp):
        app.register_blueprint(blueprint)
    security.init_app(app, uses_s3=settings.uses_s3)
    errors.init_app(app)
    commands.init_app(app)
    return app


def _start_local_worker(services: Services):
    """This machine's job worker, in this process, unless another process already is it."""
    try:
        from lambda_functions.local_worker import LocalWorker
    except ImportError:  # the web image ships the web tier only: on AWS the Lambdas process the jobs
        log.warning("no job worker in this installation: uploads are kept, and wait until a worker runs")
        return None
    return LocalWorker.start_if_none_running(services)


def _secret_key(settings: Settings) -> str:
    """FLASK_SECRET_KEY, or locally a random key kept in DATA_DIR (sessions survive restarts)."""
    if settings.flask_secret_key:
        return settings.flask_secret_key
    if settings.uses_s3:  # behind a load balancer every instance must sign with the same key
        raise ConfigurationError("Set FLASK_SECRET_KEY or FLASK_SECRET_KEY_SECRET_ARN: on AWS all instances share one.")
    data_dir = Path(settings.data_dir)
    path = data_dir / ".flask-secret-key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=data_dir, prefix=".flask-secret-key.")  # mode 0600
        candidate = Path(name)
        with os.fdopen(handle, "w") as file:
            file.write(secrets.token_hex(32))
        try:
            os.link(candidate, path)  # atomic: when several workers start at once, the first key wins
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return path.read_text().strip()


if __name__ == "__main__":
    application = create_app()
    application.run(host="127.0.0.1", port=application.extensions["annotation"].settings.port)
