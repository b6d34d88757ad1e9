"""CPU work off the event loop: reviews run in a small process pool, torch runs are limited in number.

The reviewer is pure Python: in a thread it would hold the GIL and stall every other client, so it runs in worker
processes (one per core, at most 4, started lazily, at a lower scheduling priority than the server so the event loop
keeps answering). A review that overruns its time limit kills the pool's workers (a pure-Python loop cannot be
interrupted otherwise); the pool is rebuilt for the next call. Runs that train (reference implementations, compare,
the doctor) each start their own child process group; `RunSlots` caps how many run at once and answers "busy" at once
instead of queueing a model for minutes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import anyio

T = TypeVar("T")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _init_worker() -> None:
    try:
        os.nice(5)  # the server process itself (the event loop) keeps priority over reviews
    except OSError:
        pass
    import pytorch_patterns.skill.review# noqa: F401  -- import the rules once per worker, not per call


def _warm() -> int:
    return os.getpid()


def pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            method = "forkserver" if sys.platform.startswith("linux") else "spawn"
            mp = multiprocessing.get_context(method)
            if method == "forkserver":
                mp.set_forkserver_preload(["pytorch_patterns.skill.review"])  # not __main__: the fork server imports the rules once
            _pool = ProcessPoolExecutor(max_workers=workers(), mp_context=mp, initializer=_init_worker)
        return _pool


def warm_up() -> None:
    """Start the workers in the background (called once the server is up; start-up itself stays light)."""

    def run() -> None:
        try:
            futures = [pool().submit(_warm) for _ in range(workers())]
            for f in futures:
                f.result(timeout=120)
        except Exception:  # noqa: BLE001 -- warm-up is an optimisation; the first call retries
            pass

    threading.Thread(target=run, name="review-pool-warm-up", daemon=True).start()


def _reset(kill: bool) -> None:
    global _pool
    with _lock:
        old, _pool = _pool, None
    if old is None:
        return
    if kill:
        for proc in list(getattr(old, "_processes", {}).values()):
            try:
                proc.kill()
            except Exception:  # noqa: BLE001 -- already gone
                pass
    old.shutdown(wait=False, cancel_futures=True)


class WorkTimeout(Exception):
    pass


async def in_pool(fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
    """Run `fn(*args)` in a worker process; raise WorkTimeout past `timeout_s` (the workers are then killed)."""
    for attempt in (1, 2):
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(pool(), fn, *args)
        try:
            with anyio.fail_after(timeout_s):
                return await future
        except TimeoutError:
            _reset(kill=True)
            raise WorkTimeout(f"took longer than {timeout_s:.0f} s") from None
        except BrokenProcessPool:
            _reset(kill=False)  # a worker died (killed by a neighbour's timeout, or out of memory): retry once
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class Busy(Exception):
    pass


class RunSlots:
    """At most `n` concurrent torch runs; the next one is refused with `Busy` instead of waiting."""

    def __init__(self, n: int | None = None) -> None:
        self.n = n if n is not None else int(os.environ.get("PYTORCH_PATTERNS_MAX_RUNS", "1"))
        self._active = 0
        self._lock = threading.Lock()

    def __enter__(self) -> RunSlots:
        with self._lock:
            if self._active >= self.n:
                raise Busy(f"{self._active} run(s) already in progress (limit {self.n}, set by PYTORCH_PATTERNS_MAX_RUNS)")
            self._active += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._active -= 1
