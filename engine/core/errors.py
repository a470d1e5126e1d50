"""One error tree for the whole engine.

`RetryableError` means the same call may succeed later (network, rate limit, a book that is
resyncing); `FatalError` means the input or the configuration is wrong and retrying is pointless.
"""

from __future__ import annotations


class BallastError(Exception):
    """Root of every error the engine raises on purpose."""


class RetryableError(BallastError):
    """A transient condition: the same operation may succeed later."""


class FatalError(BallastError):
    """Bad input or configuration: fix it, do not retry."""


class DecodeError(FatalError):
    """A venue payload that cannot be turned into a model event (malformed, invalid values)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class UnknownStreamError(DecodeError):
    """A well-formed message from a stream this engine does not decode."""


class ConfigError(FatalError):
    """Invalid configuration; the message names the file, the field path and what was expected."""


class BookNotSyncedError(RetryableError):
    """A query or order on a book that is waiting for its snapshot or resyncing."""
