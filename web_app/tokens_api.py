"""`/api/tokens`: a user's API tokens for scripts (HTTP Basic, a session or a token may manage them)."""

from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user

from annotation_core.api_tokens import ApiToken
from annotation_core.errors import AccountError, TokenNotFoundError
from web_app.presenters import iso
from web_app.services import services

bp = Blueprint("tokens_api", __name__, url_prefix="/api/tokens")


def token_json(token: ApiToken) -> dict:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
    }


@bp.get("")
def list_tokens():
    """The caller's tokens, newest first (never the tokens themselves)."""
    return {"tokens": [token_json(token) for token in services().tokens.of_user(current_user.id)]}


@bp.post("")
def create_token():
    """`{"name": ...}` → 201 with the token, shown this once."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise AccountError('Send a JSON object with the token\'s name: {"name": "backup script"}.')
    created = services().tokens.create(current_user.id, body["name"])
    document = {
        "id": created.token.id,
        "name": created.token.name,
        "token": created.secret,
        "created_at": iso(created.token.created_at),
    }
    return document, 201, {"Cache-Control": "no-store"}


@bp.delete("/<int:token_id>")
def revoke_token(token_id: int):
    """204; requests with the token are refused from then on."""
    if not services().tokens.revoke(current_user.id, token_id):
        raise TokenNotFoundError(f"You have no token with id {token_id}.")
    return "", 204
