"""Cookies, proxies and security headers on every response (CSRF is checked in `web_app.access`)."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from annotation_core.settings import Settings

HSTS = "max-age=31536000"

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


def init_app(app: Flask, settings: Settings) -> None:
    """Configure CSRF tokens (form field `csrf_token` or header `X-CSRFToken`) and cookies; add the headers."""
    app.config.setdefault("WTF_CSRF_HEADERS", ["X-CSRFToken", "X-CSRF-Token"])
    # Valid for the whole sign-in: an upload page left open over lunch must still work.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"  # Flask defaults it to None, so setdefault would not do
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SECURE"] = settings.https_only
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=settings.session_hours)
    # The cookie is set when the session changes (sign-in, flash), not again on every request: otherwise a
    # page's request answered after "Sign out" would hand the browser its old session back. The sign-in's age
    # (SESSION_HOURS) is checked on every request anyway.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    if settings.proxy_count:  # the client's address and scheme as the load balancer saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_count, x_proto=settings.proxy_count)
    policy = content_security_policy((S3_IMAGE_SOURCE,) if settings.uses_s3 else ())

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        # same-origin, not no-referrer: Flask-WTF checks the Referer of CSRF-protected requests over HTTPS.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if settings.https_only:
            response.headers["Strict-Transport-Security"] = HSTS
        return response
