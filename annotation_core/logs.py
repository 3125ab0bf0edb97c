"""Logging set-up: JSON lines in Lambda, readable lines locally; image id and job ride along as extras."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, json_lines: bool = False) -> None:
    """Send all logs to stdout at `level`, one line per event."""
    handler = logging.StreamHandler(sys.stdout)
    if json_lines:
        handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp=True))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]  # Lambda's runtime pre-installs a plain handler; replace it
    root.setLevel(level)
