"""One error tree for the whole engine.

    BallastError
    ├── RetryableError           the same call may succeed later
    │   ├── BookNotSyncedError   a book waiting for its snapshot or resyncing
    │   └── VenueUnavailable     network, timeout, 429 / 5xx, venue busy, clock skew
    ├── FatalError               retrying is pointless
    │   ├── DecodeError          a venue payload that is not what it should be
    │   │   └── UnknownStreamError
    │   ├── ConfigError          bad configuration (file, field path, what was expected)
    │   ├── JournalError         the journal cannot be used (engine.journal.store)
    │   ├── VenueAuthError       the venue refuses the key, its signature or its permissions
    │   └── OrderRejected        the venue refused this request: final, never retried
    └── TaskFailed               an owned task died unexpectedly: trading halts (exit 4)

Venue codes and ccxt's exception classes are mapped onto it in one table per venue
(`engine.venues.<venue>.errors`, through `venue_error`); everything else in the engine reads
only this tree.
"""

from __future__ import annotations

import re


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


class VenueError(BallastError):
    """An answer (or no answer) from a venue, with its code when it sent one."""

    def __init__(self, message: str, code: int = 0, venue_message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.venue_message = venue_message or message


class VenueUnavailable(VenueError, RetryableError):
    """The venue could not answer now (network, timeout, rate limit, overload): retry."""


class VenueAuthError(VenueError, FatalError):
    """The venue refuses the key, the signature or the permissions: stop, fix the key."""


class OrderRejected(VenueError, FatalError):
    """The venue refused the request itself (margin, filters, unknown order): final."""


class TaskFailed(BallastError):
    """A supervised task raised what nobody expected; the run halts trading and exits 4."""

    def __init__(self, task: str, exc: BaseException) -> None:
        super().__init__(f"task {task} failed: {type(exc).__name__}: {exc}")
        self.task = task
        self.exc = exc


def venue_error(exc: BaseException, code: int, msg: str, kind: str | None) -> "VenueError":
    """The engine error for a ccxt exception whose venue code `code` (0: none) a venue's table
    calls `kind` ("retry", "auth", "reject"; None: a code it does not know, when ccxt's class
    decides: network trouble and failed operations are retried, a refused key is fatal,
    anything else is a refusal)."""
    import ccxt

    text = f"{type(exc).__name__}: {msg}" if code else f"{type(exc).__name__}: {str(exc)[:200]}"
    if kind is None:
        if isinstance(exc, (ccxt.NetworkError, ccxt.BadResponse, ccxt.OperationFailed)):
            kind = "retry"
        elif isinstance(exc, ccxt.AuthenticationError):
            kind = "auth"
        else:
            kind = "reject"
    cls = {"retry": VenueUnavailable, "auth": VenueAuthError, "reject": OrderRejected}[kind]
    return cls(text, code, msg)


def without_query(text: str) -> str:
    """A venue's error text for a person or a log: request URLs without their query, which
    carries the request's signature and parameters."""
    return re.sub(r"(https?://[^\s?]+)\?\S*", r"\1?…", text)


def one_line(text: str, limit: int = 300) -> str:
    """A venue's error for one line of output: no signed query, no line breaks (an HTTP error
    carries the response body, an HTML page at times), at most `limit` characters."""
    text = " ".join(without_query(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
