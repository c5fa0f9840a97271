"""One log format for every logger: text for people, one JSON object per line for pipelines;
context fields as `key=value` pairs or as keys, never JSON inside a message."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from telemetry.logs import JsonFormatter, TextFormatter, logging_config

FIELDS = {"tenant": "acme", "project": "web", "invocation": "i-1", "attempt": 2}


@pytest.fixture
def stream() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    logger = logging.getLogger("timekeeper.test.logs")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_text_lines_carry_the_fields_as_pairs(
    stream: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = stream
    logger.handlers[0].setFormatter(TextFormatter())
    logger.warning("delivery attempt failed", extra={"fields": FIELDS})
    line = buffer.getvalue().rstrip("\n")
    assert line.endswith(
        " WARNING timekeeper.test.logs: delivery attempt failed"
        " tenant=acme project=web invocation=i-1 attempt=2"
    )


def test_json_lines_are_one_object_with_the_fields_as_keys(
    stream: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = stream
    logger.handlers[0].setFormatter(JsonFormatter())
    logger.error("invocation failed", extra={"fields": FIELDS})
    entry = json.loads(buffer.getvalue())
    del entry["time"]
    assert entry == {
        "level": "ERROR",
        "logger": "timekeeper.test.logs",
        "message": "invocation failed",
        **FIELDS,
    }


def test_uvicorn_logs_through_the_same_handler_in_the_same_format() -> None:
    config = logging_config("INFO", "json")
    assert config["formatters"]["default"]["()"] is JsonFormatter
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        assert config["loggers"][name]["handlers"] == []
        assert config["loggers"][name]["propagate"] is True
    assert config["root"] == {"level": "INFO", "handlers": ["console"]}
