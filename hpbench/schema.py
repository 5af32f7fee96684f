"""The values a user's file may hold, declared once per file kind and checked where the file is read.

A ``Rule`` names a key's types and its range; ``check_values`` applies a kind's
rules to a mapping and raises one error that names the file and every key that breaks one. A number
is never read from a string or a bool, nor cast (``1.7`` is not a version, ``true`` is not an epoch
count), and no number anywhere in the file may be NaN or infinite (``finite_problems``).
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from typing import Any

from hpbench.errors import HpbenchError

TYPE_WORDS = {datetime.date: "a date", str: "a string", int: "a whole number", float: "a number",
              bool: "true or false", dict: "a mapping", list: "a list", type(None): "empty"}
SHA256 = re.compile(r"[0-9a-f]{64}")  # a sha256 as hpbench writes it: 64 lowercase hexadecimal digits


@dataclass(frozen=True)
class Rule:
    types: tuple[type, ...]
    low: float | None = None  # inclusive
    high: float | None = None  # inclusive
    above: float | None = None  # exclusive lower bound

    def problem(self, value: Any) -> str | None:
        """Why ``value`` breaks the rule, or None."""
        if not _is_a(value, self.types):
            return f"must be {' or '.join(TYPE_WORDS.get(t, t.__name__) for t in self.types)}, not {value!r:.60}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                return f"must be finite, not {value}"
            if self.low is not None and value < self.low:
                return f"must be at least {self.low:g}, not {value}"
            if self.high is not None and value > self.high:
                return f"must be at most {self.high:g}, not {value}"
            if self.above is not None and value <= self.above:
                return f"must be above {self.above:g}, not {value}"
        return None


def _is_a(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def finite_problems(value: Any, where: str) -> list[str]:
    """Every NaN or infinite number in a nested value, by its dotted key."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: {value} (not finite)"]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in finite_problems(item, f"{where}.{key}" if where else str(key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in finite_problems(item, f"{where}[{index}]")]
    return []


def check_values(content: dict, rules: dict[str, Rule], where: str) -> None:
    """Raise one error naming ``where`` and each key of ``content`` that breaks its rule, or any
    non-finite number in it."""
    broken = {key: f"{key} {rule.problem(content[key])}" for key, rule in rules.items()
              if key in content and rule.problem(content[key])}
    problems = list(broken.values()) + [p for p in finite_problems(content, "")
                                        if p.split(":")[0].split(".")[0].split("[")[0] not in broken]
    if problems:
        raise HpbenchError(f"{where}: " + "; ".join(problems[:5]) + (f"; … {len(problems) - 5} more"
                                                                      if len(problems) > 5 else ""))
