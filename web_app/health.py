"""`/health` for the load balancer: answers from memory, touching no database or external API."""

from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    return {"status": "ok"}
