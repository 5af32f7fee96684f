"""Where hpbench's messages go.

Library modules log to ``logging.getLogger(__name__)`` — INFO for what a run is doing, WARNING for
what it does instead of what was asked — and never print. From Python, a caller sees them by
configuring logging (``logging.basicConfig(level=logging.INFO)``); the ``hpbench`` command shows them
on stdout (``console``). Progress bars are apart: each long function takes ``progress`` (tqdm).
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import Iterator

ROOT = "hpbench"


class _Stdout(logging.Handler):
    """Each message as one line on the current ``sys.stdout`` (looked up when written, so that a
    redirected or captured stdout receives it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 — logging's own rule: a handler's failure never stops the run
            self.handleError(record)


@contextmanager
def console(level: int = logging.INFO) -> Iterator[None]:
    """While the block runs, hpbench's messages of ``level`` and above are printed to stdout as they are."""
    logger = logging.getLogger(ROOT)
    handler = _Stdout(level)
    handler.setFormatter(logging.Formatter("%(message)s"))
    before = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # printed here once, not again by a handler the caller configured
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before[0])
        logger.propagate = before[1]


@contextmanager
def silenced(name: str) -> Iterator[None]:
    """While the block runs, the logger ``name`` says nothing: a loop run many times
    over (the search's candidate heads) would otherwise repeat its lines for each."""
    logger = logging.getLogger(name)
    before = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = before
