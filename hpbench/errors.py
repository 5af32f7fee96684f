"""Errors that are the user's to fix: the CLI prints them without a traceback."""

from __future__ import annotations

from pathlib import Path


class HpbenchError(Exception):
    """A problem with the user's input or environment, explained in the message."""


class BadSourceFile(HpbenchError):
    """One raw dataset file cannot be converted; names the file and what is wrong."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep both fields when sent back from a worker process
        return (type(self), (self.path, self.reason))


class NotTheDataset(HpbenchError):
    """A source folder does not hold the dataset the user asked to convert."""
