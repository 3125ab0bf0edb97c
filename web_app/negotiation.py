"""Whether a request wants JSON back (API clients and scripts) or HTML (a browser form)."""

from flask import request


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    # "*/*" and browsers' lists favour HTML; only a client that prefers JSON gets it.
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
