"""Application factory; `python web_app/app.py` starts the development server on PORT."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from flask import Flask

from annotation_core.bootstrap import Services, bootstrap
from annotation_core.errors import ConfigurationError
from annotation_core.logs import configure_logging
from annotation_core.settings import Settings, load_settings
from web_app import api, errors, health, image_forms, media, pages, security, uploads

REQUEST_FILES_LIMIT = 20  # files in one upload request; each is also held to MAX_UPLOAD_MB


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Build the Flask app; with no arguments, settings come from the environment and `.env`."""
    if settings is None and services is None:
        settings = load_settings()
        configure_logging(settings.log_level)
    if services is None:
        services = bootstrap(settings, create_tables=True)
    settings = services.settings

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes * REQUEST_FILES_LIMIT + 2**20,
    )
    app.json.sort_keys = False  # documents keep the order presenters give them (id first)
    app.extensions["annotation"] = services
    for blueprint in (pages.bp, uploads.bp, image_forms.bp, api.bp, media.bp, health.bp):
        app.register_blueprint(blueprint)
    security.init_app(app, uses_s3=settings.uses_s3)
    errors.init_app(app)

    if services.local_bus is not None:
        from lambda_functions.local_worker import start_local_worker

        app.extensions["local_worker"] = start_local_worker(services)
    return app


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
