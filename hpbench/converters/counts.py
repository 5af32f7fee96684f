"""Published counts: what a dataset's authors (or a reference paper) report, and how to count it in a
prepared file. ``hpbench verify`` compares the two and warns on a mismatch (a partial download)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from hpbench.format import HPFile
from hpbench.pose import inside_range


@dataclass(frozen=True)
class PublishedCount:
    """A count the dataset's authors (or a reference paper) published, and how to count it in a file."""

    what: str
    value: int
    count: Callable[[HPFile], int]
    note: str = ""


def count_samples(data: HPFile) -> int:
    return len(data)


def count_inside_99(data: HPFile) -> int:
    return int(np.sum(inside_range(data.ypr)))


def count_distinct(meta: str) -> Callable[[HPFile], int]:
    def count(data: HPFile) -> int:
        return len(set(data.meta(meta)))

    return count
