"""The app's own `flask` commands: `captions backfill` and `renditions backfill` (`make backfill` runs the first)."""

from __future__ import annotations

from flask import Flask

from web_app.caption_commands import captions
from web_app.rendition_commands import renditions


def init_app(app: Flask) -> None:
    app.cli.add_command(captions)
    app.cli.add_command(renditions)
