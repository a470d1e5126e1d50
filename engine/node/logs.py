"""JSON log lines: one event per line, secrets never printed.

Messages are formatted first, then any value that looks like a credential (from an environment
variable whose name says KEY, SECRET, TOKEN or PASSWORD, or a webhook URL) is masked.
"""

from __future__ import annotations

import logging
import os
import time

import orjson

_SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "WEBHOOK", "PASSPHRASE")


def secret_values() -> list[str]:
    return [v for k, v in os.environ.items()
            if v and len(v) >= 6 and any(w in k.upper() for w in _SECRET_WORDS)]


def redact(text: str, secrets: list[str] | None = None) -> str:
    for s in secrets if secrets is not None else secret_values():
        if s in text:
            text = text.replace(s, "***")
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets = secret_values()

    def format(self, record: logging.LogRecord) -> str:
        msg = redact(record.getMessage(), self._secrets)
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
               + f".{int(record.msecs):03d}Z", "level": record.levelname.lower(),
               "logger": record.name, "msg": msg}
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info), self._secrets)
        return orjson.dumps(out).decode()
