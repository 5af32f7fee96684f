"""Reading YAML that a user or a stranger wrote (protocols, recipes, ``--set`` values, reported.yaml).

PyYAML's safe loader builds no objects, but it expands aliases (a few hundred bytes of nested
``*a`` references become gigabytes) and keeps the last of two equal keys without a word. Here a
file is at most ``MAX_YAML_BYTES``, an alias is an error, and so is a key given twice, each with the
file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hpbench.errors import HpbenchError

MAX_YAML_BYTES = 4 * 2**20


class _StrictLoader(yaml.SafeLoader):
    """The safe loader without aliases and without duplicate keys."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.MarkedYAMLError(problem="an alias (*name): write the value out; hpbench does not expand "
                                               "aliases", problem_mark=mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base constructor explains it
                break
            if duplicate:
                raise yaml.MarkedYAMLError(problem=f"the key {key!r} is given twice", problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, where: str) -> Any:
    """The value of YAML ``text`` (strict: see the module docstring); errors name ``where``."""
    if len(text) > MAX_YAML_BYTES:
        raise HpbenchError(f"{where}: {len(text):,} characters of YAML, more than the {MAX_YAML_BYTES:,} hpbench reads")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a safe loader, stricter still
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        raise HpbenchError(f"{where}: not valid YAML ({detail[:300]})") from None


def read_yaml(path: Path, kind: str) -> Any:
    """The content of the YAML file ``path`` (a ``kind``, for the message)."""
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise HpbenchError(f"{path}: {path.stat().st_size:,} bytes, more than a {kind} may be "
                               f"({MAX_YAML_BYTES:,})")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise HpbenchError(f"{path}: not a readable {kind} ({err})") from None
    return parse_yaml(text, str(path))
