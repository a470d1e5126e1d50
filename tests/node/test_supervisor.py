"""The supervisor owns every task: the first unexpected exception is the run's failure, read
when the task ends (never "Task exception was never retrieved"), reported once."""

from __future__ import annotations

import asyncio

from engine.core.errors import TaskFailed
from engine.node.supervisor import Supervisor


async def test_first_failure_is_recorded_once_and_its_exception_retrieved():
    loop = asyncio.get_running_loop()
    unretrieved = []
    loop.set_exception_handler(lambda _loop, ctx: unretrieved.append(ctx))
    seen: list[TaskFailed] = []
    sup = Supervisor(on_failure=seen.append)

    async def boom(msg):
        raise RuntimeError(msg)

    async def forever():
        await asyncio.Event().wait()

    sup.spawn(forever(), "idle")
    a = sup.spawn(boom("first"), "worker-a")
    await asyncio.gather(a, return_exceptions=True)
    b = sup.spawn(boom("second"), "worker-b")
    await asyncio.gather(b, return_exceptions=True)
    assert [f.task for f in seen] == ["worker-a"] and "first" in str(seen[0])
    assert sup.failure is seen[0] and isinstance(sup.failure.exc, RuntimeError)
    await sup.shutdown()
    assert not sup.tasks
    del a, b
    import gc

    gc.collect()  # an unread task exception is reported right here, when the task is freed
    assert not unretrieved


async def test_cancelled_and_finished_tasks_are_not_failures():
    sup = Supervisor(on_failure=lambda f: (_ for _ in ()).throw(AssertionError(f)))

    async def ok():
        return 1

    t = sup.spawn(ok(), "ok")
    assert await t == 1
    sup.spawn(asyncio.Event().wait(), "waits")
    await sup.shutdown()
    assert sup.failure is None


async def test_a_task_cancelled_by_anyone_but_its_owner_is_a_failure():
    """A library cancelling a task it was handed (the feed, the user data) leaves the run
    without it: halt, as for an exception. Cancelled through the owner, it is the run's stop."""
    seen: list[TaskFailed] = []
    sup = Supervisor(on_failure=seen.append)
    mine = sup.spawn(asyncio.Event().wait(), "stopped-by-the-run")
    sup.cancel(mine)
    await asyncio.gather(mine, return_exceptions=True)
    assert seen == []
    theirs = sup.spawn(asyncio.Event().wait(), "user-data")
    theirs.cancel()  # not through the supervisor
    await asyncio.gather(theirs, return_exceptions=True)
    assert [f.task for f in seen] == ["user-data"]
    assert "cancelled by something other than the run" in str(seen[0])
    await sup.shutdown()
    assert len(seen) == 1
