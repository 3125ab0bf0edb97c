"""`/health` answers from memory, touching no database or external API: the process is up. `/ready` also
asks the database: this instance can serve requests now (503 with the reason if not)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint

from web_app.services import services

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    return {"status": "ok"}


@bp.get("/ready")
def ready():
    try:
        with services().engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as error:
        return (
            {"status": "unavailable", "error": f"The database does not answer: {error.orig}"},
            503,
            {"Retry-After": "30"},
        )
    return {"status": "ready"}
