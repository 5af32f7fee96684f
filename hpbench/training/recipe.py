"""Training recipes: ``baselines/*.yaml``, one per baseline variant, each citing its source.

A recipe names the architecture, its configuration, the loss, the optimiser, epochs, batch size,
augmentation and, for KD students, the teacher; for body pose, a jigsaw pre-training, a transfer
from one and early stopping (hpbench.training.bodypose). ``--set key=value`` overrides any value (dotted
keys reach nested ones; the value is read as YAML).
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path


from hpbench.errors import HpbenchError
from hpbench.paths import checked_name
from hpbench.schema import Rule, check_values
from hpbench.resources import bundled_dir, bundled_yaml
from hpbench.yamlfiles import parse_yaml, read_yaml

RECIPE_KEYS = {"name", "arch", "source", "model", "loss", "optimizer", "scheduler", "epochs", "batch_size", "augment",
               "crop", "boxes", "seed", "teacher", "notes", "jigsaw", "transfer", "early_stopping"}


_OPTIONAL_MAPPING = Rule((dict, type(None)))
RECIPE_RULES = {
    "name": Rule((str,)), "arch": Rule((str,)), "source": Rule((str,)), "notes": Rule((str, type(None))),
    "loss": Rule((dict,)), "optimizer": Rule((dict,)), "model": Rule((dict,)), "scheduler": _OPTIONAL_MAPPING,
    "augment": _OPTIONAL_MAPPING, "teacher": _OPTIONAL_MAPPING, "jigsaw": _OPTIONAL_MAPPING,
    "transfer": _OPTIONAL_MAPPING, "early_stopping": _OPTIONAL_MAPPING, "crop": Rule((str, type(None))),
    "boxes": Rule((str, type(None))), "epochs": Rule((int,), low=1), "batch_size": Rule((int,), low=1),
    "seed": Rule((int,), low=0),
}
SECTION_RULES = {  # the values of a section that its function would take without a word
    "optimizer": {"name": Rule((str,)), "lr": Rule((float,), above=0), "weight_decay": Rule((float,), low=0),
                  "momentum": Rule((float,), low=0, high=1)},
    "loss": {"name": Rule((str,))},
    "early_stopping": {"patience": Rule((int,), low=1), "monitor": Rule((str,))},
}


@dataclass
class Recipe:
    name: str
    arch: str
    source: str
    loss: dict
    optimizer: dict
    epochs: int
    batch_size: int
    model: dict = field(default_factory=dict)
    scheduler: dict | None = None
    augment: dict = field(default_factory=dict)
    crop: str | None = None  # None: the protocol's crop rule
    boxes: str | None = None  # None: the protocol's box source (HopeNet trains on its pt2d box)
    seed: int = 0
    teacher: dict | None = None
    notes: str = ""
    jigsaw: dict | None = None  # body pose: CPM-SSL's pre-training on puzzles (hpbench.training.bodypose)
    transfer: dict | None = None  # body pose: the layers of a --pretrained jigsaw checkpoint to take, fixed or not
    early_stopping: dict | None = None  # {patience: N, monitor: validation_loss}


def set_dotted(raw: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for name in parents:
        if node.get(name) is None:
            node[name] = {}
        if not isinstance(node[name], dict):
            raise HpbenchError(f"--set {dotted}: {name} is not a mapping")
        node = node[name]
    node[leaf] = value


def load_recipe(name_or_path: str | Path, overrides: tuple[str, ...] = ()) -> Recipe:
    path = bundled_yaml("baselines", name_or_path, "recipe")
    raw = read_yaml(path, "recipe")
    if not isinstance(raw, dict):
        raise HpbenchError(f"{path}: a recipe is a mapping of keys to values")
    for item in overrides:
        if "=" not in item:
            raise HpbenchError(f"--set {item!r}: expected key=value")
        key, text = item.split("=", 1)
        set_dotted(raw, key.strip(), parse_yaml(text, f"--set {item}"))
    unknown = set(raw) - RECIPE_KEYS
    if unknown:
        raise HpbenchError(f"{path}: unknown recipe keys {sorted(unknown)} (known: {sorted(RECIPE_KEYS)})")
    where = f"{path}" + (f" with --set {', '.join(overrides)}" if overrides else "")
    check_values(raw, RECIPE_RULES, where)
    for section, rules in SECTION_RULES.items():
        if isinstance(raw.get(section), dict):
            check_values(raw[section], rules, f"{where}: {section}")
    for section in ("loss", "optimizer"):
        if isinstance(raw.get(section), dict) and "name" not in raw[section]:
            raise HpbenchError(f"{where}: {section} names no 'name' (e.g. {section}: {{name: …, …}})")
    checked_name(raw.get("name"), f"{path}: name")
    try:
        return Recipe(**raw)
    except TypeError as err:
        raise HpbenchError(f"{path}: {err}") from None


def checked_keywords(section: str, function, values: dict) -> dict:
    """``values``, the keywords a recipe section gives ``function``; an unknown key is an error with
    the nearest known one (a typo would otherwise reach the function as a bare TypeError), and a value
    of another type than the parameter's annotation (int, float, bool, str, or one of them or None)
    is an error too, before it reaches the function."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return values
    known = [name for name, p in parameters.items()
             if p.kind is not p.VAR_POSITIONAL and name not in ("self", "params")]
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise HpbenchError(f"recipe key {section}.{key}: unknown{hint} (known: {', '.join(known)})")
    check_values(values, _annotated_rules(function), f"recipe section {section}")
    return values


def _annotated_rules(function) -> dict[str, Rule]:
    """A Rule per parameter annotated with plain types (int, float, bool, str, optionally None)."""
    function = inspect.unwrap(function)
    try:
        hints = typing.get_type_hints(function.__init__ if inspect.isclass(function) else function)
    except Exception:  # noqa: BLE001 - an annotation typing cannot resolve: no type rule, names still checked
        return {}
    rules = {}
    for name, hint in hints.items():
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        if options and all(option in (int, float, bool, str, type(None)) for option in options):
            rules[name] = Rule(tuple(options))
    return rules


def recipe_names() -> list[str]:
    return sorted(p.stem for p in bundled_dir("baselines").glob("*.yaml"))
