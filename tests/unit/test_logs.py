"""Logging set-up: one line per event on stdout, JSON in Lambda (with the image id and job as fields), text locally."""

from __future__ import annotations

import json
import logging
import re

import pytest

from annotation_core.logs import configure_logging


@pytest.fixture(autouse=True)
def root_logger_restored():
    """configure_logging replaces the root logger's handlers and level; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


def test_local_lines_are_readable_text_on_stdout_at_the_configured_level(capsys):
    configure_logging("WARNING")
    log = logging.getLogger("annotation_core.uploads")
    log.info("stored upload image=%s", 7)
    log.warning("stored the missing original again image=%s", 7)

    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert len(lines) == 1  # the INFO line is below the level
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING annotation_core.uploads: "
        r"stored the missing original again image=7",
        lines[0],
    )


def test_lambda_lines_are_json_with_level_logger_time_and_extras(capsys):
    configure_logging("INFO", json_lines=True)
    log = logging.getLogger("annotation_core.lifecycle")
    log.debug("not shown")
    log.info("claimed image=%s job=%s", 3, "caption", extra={"image_id": 3, "job": "caption"})

    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", event.pop("timestamp"))
    assert event == {
        "levelname": "INFO",
        "name": "annotation_core.lifecycle",
        "message": "claimed image=3 job=caption",
        "image_id": 3,
        "job": "caption",
    }


def test_a_handler_installed_before_is_replaced_so_each_event_is_written_once(capsys):
    root = logging.getLogger()
    root.handlers = [logging.StreamHandler(), logging.StreamHandler()]  # as Lambda's runtime leaves it
    configure_logging("DEBUG")
    configure_logging("DEBUG")  # configuring again does not add a second handler either
    logging.getLogger("annotation_core.sweeper").debug("swept %d", 2)

    captured = capsys.readouterr()
    assert captured.err == ""
    assert len(root.handlers) == 1
    assert [line.split(" ", 3)[2:] for line in captured.out.splitlines()] == [
        ["DEBUG", "annotation_core.sweeper: swept 2"]
    ]
