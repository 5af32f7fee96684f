"""Ordered parallel map with bounded read-ahead, so memory stays constant on any dataset size."""

from __future__ import annotations

from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _run_chunk(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [fn(item) for item in chunk]


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int = 1, chunk_size: int = 8, window: int = 4
) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in order.

    With ``workers`` > 1, chunks of ``chunk_size`` items run in worker processes, at most
    ``window`` chunks per worker in flight: results never pile up faster than they are consumed.
    ``fn`` must be picklable (a module-level function or a functools.partial of one).
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        chunk: list[T] = []
        try:
            for item in items:
                chunk.append(item)
                if len(chunk) == chunk_size:
                    pending.append(pool.submit(_run_chunk, fn, chunk))
                    chunk = []
                    if len(pending) >= window * workers:
                        yield from pending.popleft().result()
            if chunk:
                pending.append(pool.submit(_run_chunk, fn, chunk))
            while pending:
                yield from pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
