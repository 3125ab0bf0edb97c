"""Access to the composition root's services from inside a request."""

from __future__ import annotations

from flask import current_app

from annotation_core.bootstrap import Services


def services() -> Services:
    return current_app.extensions["annotation"]
