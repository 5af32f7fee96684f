"""Ordered parallel map with bounded read-ahead, so memory stays constant on any dataset size.

With ``on_crash``, items run in worker processes even for one worker, and a worker that dies (a
parser of untrusted bytes that segfaults) costs one item, not the run: the map finds the item that
killed it, yields ``on_crash(item)`` for it and carries on in a fresh pool. Workers die with their
parent (Linux), so killing the main process leaves none behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
_PR_SET_PDEATHSIG = 1


def _run_chunk(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [fn(item) for item in chunk]


def _die_with_parent(parent: int) -> None:
    """Worker initializer: the kernel kills this process when its parent dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


class _Pool:
    """A process pool that can be replaced after a worker died."""

    def __init__(self, workers: int):
        self.workers = workers
        self.executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, initializer=_die_with_parent, initargs=(os.getpid(),))

    def restart(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.executor = self._new()

    def submit(self, fn, chunk):
        return self.executor.submit(_run_chunk, fn, chunk)

    def close(self, pending) -> None:
        for _, future in pending:
            future.cancel()
        self.executor.shutdown(wait=True, cancel_futures=True)


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int = 1, chunk_size: int = 8, window: int = 4,
    on_crash: Callable[[T], R] | None = None,
) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in order.

    With ``workers`` > 1 (or ``on_crash``), chunks of ``chunk_size`` items run in worker processes,
    at most ``window`` chunks per worker in flight: results never pile up faster than they are
    consumed. ``fn`` must be picklable (a module-level function or a functools.partial of one).
    """
    if workers <= 1 and on_crash is None:
        yield from map(fn, items)
        return
    pool = _Pool(max(1, workers))
    pending: deque = deque()  # (chunk, future), in order

    def finished(chunk, future) -> Iterator[R]:
        try:
            yield from future.result()
            return
        except BrokenProcessPool:
            if on_crash is None:
                raise
        # the pool is gone with every chunk in flight: find the item that kills a worker, one at a time
        pool.restart()
        for item in chunk:
            try:
                yield from pool.submit(fn, [item]).result()
            except BrokenProcessPool:
                yield on_crash(item)
                pool.restart()
        for index, (other, _) in enumerate(pending):
            pending[index] = (other, pool.submit(fn, other))

    try:
        chunk: list[T] = []
        for item in items:
            chunk.append(item)
            if len(chunk) == chunk_size:
                pending.append((chunk, pool.submit(fn, chunk)))
                chunk = []
                if len(pending) >= window * pool.workers:
                    yield from finished(*pending.popleft())
        if chunk:
            pending.append((chunk, pool.submit(fn, chunk)))
        while pending:
            yield from finished(*pending.popleft())
    finally:
        pool.close(pending)


def capped_workers(requested: int, items: int | None = None) -> int:
    """``requested`` worker processes, but no more than this machine's cores nor than ``items`` (the
    work there is): more only add processes that wait. Says so when it caps."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = max(1, min(cores, items if items is not None else cores))
    if requested <= limit:
        return requested
    why = f"this machine has {cores} cores" + (f" and there are {items} items to read" if items is not None else "")
    logger.info(f"--workers {requested}: using {limit} ({why})")
    return limit
