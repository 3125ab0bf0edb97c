"""CSRF protection on every state-changing request, and security headers on every response."""

from __future__ import annotations

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

# Presigned S3 links (virtual-hosted or regional endpoints) all live under this domain.
S3_IMAGE_SOURCE = "https://*.amazonaws.com"


def content_security_policy(image_sources: tuple[str, ...] = ()) -> str:
    """Scripts and styles from our own origin only: no inline script, no inline style, no framing."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": " ".join(("'self'", "data:", "blob:", *image_sources)),
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def init_app(app: Flask, *, uses_s3: bool) -> None:
    """Turn on CSRFProtect (form field `csrf_token` or header `X-CSRFToken`) and add the headers."""
    app.config.setdefault("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"])
    # Valid for the whole browser session: an upload page left open over lunch must still work.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    csrf.init_app(app)
    policy = content_security_policy((S3_IMAGE_SOURCE,) if uses_s3 else ())

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        # same-origin, not no-referrer: Flask-WTF checks the Referer of CSRF-protected requests over HTTPS.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        return response
