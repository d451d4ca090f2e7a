"""JSON log lines on stdout (one object a line, what CloudWatch Logs and `jq` read well).

Every line has time, level, logger and message; a line written while a request is handled also
has its request id. Secrets (the database password, known at start or read later from Secrets
Manager) are masked in every string that reaches the output, whatever logger produced it: libpq
or a library may quote a conninfo.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from contextvars import ContextVar
from typing import Any, TextIO

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

MASK = "***"


def fields(**values: Any) -> dict[str, Any]:
    """`extra=` for a log call: the values become top-level keys of the JSON line."""
    return {"fields": values}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Masked in the finished line, both as written and as JSON escapes it; longest first,
        # so that a secret containing another is masked whole.
        self._secrets: list[str] = []
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str) -> None:
        """Mask `secret` from now on (as written, and as JSON escapes it)."""
        if not secret:
            return
        forms = {secret, json.dumps(secret, ensure_ascii=False)[1:-1], *self._secrets}
        self._secrets = sorted(forms, key=len, reverse=True)  # replaced whole: thread-safe reads

    def render(self, line: Mapping[str, Any]) -> str:
        text = json.dumps(line, ensure_ascii=False, default=str)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            line.update(extra)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self.render(line)


_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2025-01-31T12:00:00.123Z.

    The date and time part is formatted once a second (this runs for every request).
    """
    global _second
    whole = int(created)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


_request_logger = logging.getLogger("app.request")
_request_handler: logging.StreamHandler[TextIO] | None = None
_request_formatter: JsonFormatter | None = None


def log_request(**values: Any) -> None:
    """The line written for every request, the same as `_request_logger.info` would write.

    It skips the logging module's per-record work (record object, handler chain), which costs
    about three times the line itself: on the hottest path of the service that is ~5% of its
    throughput. Without `configure_logging` (tests, embedding) it goes through logging as usual.
    """
    handler, formatter = _request_handler, _request_formatter
    if handler is None or formatter is None or not _request_logger.isEnabledFor(logging.INFO):
        _request_logger.info("request", extra={"fields": values})
        return
    line: dict[str, Any] = {
        "time": _timestamp(time.time()),
        "level": "info",
        "logger": "app.request",
        "message": "request",
    }
    request_id = request_id_var.get()
    if request_id is not None:
        line["request_id"] = request_id
    line.update(values)
    text = formatter.render(line) + "\n"
    with handler.lock or nullcontext():
        handler.stream.write(text)
        handler.stream.flush()


def mask_secret(secret: str) -> None:
    """Mask a secret learned after start (a password read from Secrets Manager) in every line."""
    if _request_formatter is not None:
        _request_formatter.add_secret(secret)


def configure_logging(secrets: Iterable[str] = (), level: str = "INFO") -> None:
    """Send every logger (ours, uvicorn's, psycopg's) through one JSON handler on stdout."""
    global _request_handler, _request_formatter
    formatter = JsonFormatter(secrets)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    _request_handler, _request_formatter = handler, formatter
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # pgserver narrates every step of the embedded server at INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
