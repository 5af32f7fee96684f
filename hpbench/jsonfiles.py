"""Reading JSON that a stranger wrote (result records, model metadata, box files): Python's reader
keeps the last of two equal keys without a word; here that is an error naming the file and the key."""

from __future__ import annotations

import json
from typing import Any

from hpbench.errors import HpbenchError


class _GivenTwice(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict:
    content: dict = {}
    for key, value in pairs:
        if key in content:
            raise _GivenTwice(key)
        content[key] = value
    return content


def parse_json(text: str | bytes, where: str) -> Any:
    """The value of JSON ``text``; a key given twice in one object is an error naming ``where``."""
    try:
        return json.loads(text, object_pairs_hook=_unique)
    except _GivenTwice as twice:
        raise HpbenchError(f"{where}: the key {str(twice)[:80]!r} is given twice in one object") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise HpbenchError(f"{where}: not readable JSON ({err})") from None
