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

import click  # noqa: E402
from flask import Flask  # noqa: E402
from werkzeug.exceptions import NotFound  # noqa: E402
from werkzeug.routing import IntegerConverter, ValidationError  # noqa: E402

from annotation_core.announcers import LocalAnnouncer  # noqa: E402
from annotation_core.bootstrap import Services, bootstrap  # noqa: E402
from annotation_core.errors import ConfigurationError  # noqa: E402
from annotation_core.first_admin import ensure_admin  # noqa: E402
from annotation_core.logs import configure_logging  # noqa: E402
from annotation_core.passwords import Passwords  # noqa: E402
from annotation_core.settings import Settings, load_settings  # noqa: E402
from web_app import (  # noqa: E402
    access,
    account,
    admin,
    api,
    authentication,
    commands,
    errors,
    health,
    image_forms,
    media,
    pages,
    security,
    sign_in,
    tokens_api,
    uploads,
    users_cli,
)
from web_app.form_files import ClosingRequest  # noqa: E402

log = logging.getLogger(__name__)

REQUEST_FILES_LIMIT = 20  # files in one upload request; each is also held to MAX_UPLOAD_MB


def create_app(settings: Settings | None = None, services: Services | None = None, *, run_worker: bool = True) -> Flask:
    """Build the Flask app; with no arguments, settings come from the environment and `.env`.

    In embedded mode the app also runs this machine's job worker unless one already runs (or `run_worker`
    is False: its sweep would change rows a benchmark measures; nor for a `flask` command such as `users`).
    In AUTH_MODE=password (the default) the first admin is created or updated (ADMIN_USERNAME, ADMIN_PASSWORD).
    """
    if settings is None and services is None:
        settings = load_settings()
        configure_logging(settings.log_level)
    if services is None:
        services = bootstrap(settings, migrate=True)
    settings = services.settings
    authentication.refuse_public_mode_off_loopback(settings)
    passwords = Passwords(settings)
    if not settings.public_mode:
        ensure_admin(services, passwords)
    worker = None
    run_worker = run_worker and click.get_current_context(silent=True) is None
    if run_worker and isinstance(services.announcer, LocalAnnouncer):  # embedded mode: does a worker run?
        worker = _start_local_worker(services)
        if worker is not None:
            services = worker.services  # announces straight onto the worker's queue

    app = Flask(__name__)
    app.request_class = ClosingRequest
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes * REQUEST_FILES_LIMIT + 2**20,
    )
    app.json.sort_keys = False  # documents keep the order presenters give them (id first)
    app.url_map.converters["int"] = DatabaseIdConverter
    app.extensions["annotation"] = services
    app.extensions["passwords"] = passwords
    app.extensions["local_worker"] = worker
    blueprints = (pages, uploads, image_forms, api, media, health, sign_in, account, tokens_api, admin)
    for module in blueprints:
        app.register_blueprint(module.bp)
    security.init_app(app, settings)
    authentication.init_app(app, settings)
    access.init_app(app)
    errors.init_app(app)
    commands.init_app(app)
    app.cli.add_command(users_cli.users)
    return app


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` within the ids a BIGINT column holds: anything larger is a 404, not a database error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        # A ValidationError would let werkzeug answer 405 for DELETE /api/images/0 (the path matched the
        # pattern of rules for other methods); an id no row can have is simply not there.
        try:
            return super().to_python(value)
        except ValidationError:
            raise NotFound() from None


def _start_local_worker(services: Services):
    """This machine's job worker, in this process, unless another process already is it."""
    try:
        from lambda_functions.local_worker import LocalWorker
    except ModuleNotFoundError as error:  # the web image ships the web tier only: on AWS the Lambdas do the jobs
        if error.name != "lambda_functions":
            raise
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
    configured = application.extensions["annotation"].settings
    application.run(host=configured.bind_host, port=configured.port)
