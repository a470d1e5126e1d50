"""The supervisor: every long-lived task of a run has this one owner.

Feeds, user-data views, reconciliation, order and cancel requests, funding lookups, the
journal writer and the status server are started here (or handed here to be watched). A task
that ends with an exception nobody handled, or is cancelled by anyone but its owner (through
`cancel`) outside the shutdown, is recorded as the run's failure and `on_failure` is called
once: the runner then halts trading (kill switch, journaled), settles working orders
as `[run].on_shutdown` says, flushes the journal and exits with code 4. Nothing is ever left
as "Task exception was never retrieved": each task's result is read when it ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Coroutine

from engine.core.errors import TaskFailed

log = logging.getLogger("engine.supervisor")


class Supervisor:
    def __init__(self, on_failure: Callable[[TaskFailed], None] | None = None) -> None:
        self.on_failure = on_failure
        self.tasks: set[asyncio.Task] = set()
        self.failure: TaskFailed | None = None
        self._closing = False
        self._cancelling: set[asyncio.Task] = set()  # cancelled here, on purpose

    def spawn(self, coro: Coroutine, name: str) -> asyncio.Task:
        """Start `coro` as a task owned here."""
        return self.watch(asyncio.get_running_loop().create_task(coro, name=name))

    def watch(self, task: asyncio.Task) -> asyncio.Task:
        """Own a task started elsewhere (the journal's writer)."""
        self.tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def cancel(self, task: asyncio.Task) -> None:
        """End an owned task on purpose (the run's own stop): not a failure."""
        self._cancelling.add(task)
        task.cancel()

    def _ended(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        purposeful = task in self._cancelling
        self._cancelling.discard(task)
        if task.cancelled():
            if not (purposeful or self._closing):  # a library's cancel: the task is gone
                self.fail(task.get_name(), asyncio.CancelledError(
                    "cancelled by something other than the run"))
            return
        exc = task.exception()  # read here, always: never "never retrieved"
        if exc is not None:
            self.fail(task.get_name(), exc)

    def fail(self, name: str, exc: BaseException) -> None:
        """A task's (or the run loop's) unexpected exception: the first one is the run's
        failure; later ones, or any during shutdown, are logged only."""
        failure = TaskFailed(name, exc)
        info = (type(exc), exc, exc.__traceback__)
        if self.failure is not None or self._closing:
            log.error("%s (after the run already failed or stopped)", failure, exc_info=info)
            return
        self.failure = failure
        log.error("%s: halting trading", failure, exc_info=info)
        if self.on_failure is not None:
            self.on_failure(failure)

    async def shutdown(self) -> None:
        """Cancel what is still running and wait for it to end."""
        self._closing = True
        tasks = [t for t in self.tasks if not t.done()]
        for t in tasks:
            self.cancel(t)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
