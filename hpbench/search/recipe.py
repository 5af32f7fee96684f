"""Search recipes: ``searches/*.yaml``, one per search setting, each citing its source.

A recipe names the backbone (a registered architecture, a file given with ``--backbone``, and the
layer it is cut at), how a candidate is trained (``candidate``), the fitness rule, how the winner is
retrained (``retrain``), the default budget and the seed. ``--set key=value`` overrides any value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


from hpbench.errors import HpbenchError
from hpbench.paths import checked_name
from hpbench.registry import check_known_keys
from hpbench.resources import bundled_yaml
from hpbench.training.recipe import set_dotted
from hpbench.yamlfiles import parse_yaml, read_yaml

CANDIDATE_KEYS = {"epochs", "batch_size", "optimizer", "scheduler", "huber_delta", "l2"}


@dataclass
class SearchRecipe:
    name: str
    source: str
    backbone: dict  # arch (where no --backbone file is given), layer
    candidate: dict
    fitness: dict
    retrain: dict = field(default_factory=dict)  # epochs (0: none), scheduler
    budget: int = 200
    seed: int = 0
    notes: str = ""


def load_search_recipe(name_or_path: str | Path, overrides: tuple[str, ...] = ()) -> SearchRecipe:
    path = bundled_yaml("searches", name_or_path, "search recipe")
    raw = read_yaml(path, "search recipe")
    if not isinstance(raw, dict):
        raise HpbenchError(f"{path}: a search recipe is a mapping of keys to values")
    for item in overrides:
        key, equals, text = item.partition("=")
        if not equals:
            raise HpbenchError(f"--set {item!r}: expected key=value")
        set_dotted(raw, key.strip(), parse_yaml(text, f"--set {item}"))
    check_known_keys(raw, SearchRecipe.__dataclass_fields__, str(path))
    checked_name(raw.get("name"), f"{path}: name")
    check_known_keys(raw.get("candidate") or {}, CANDIDATE_KEYS, f"{path}: candidate")
    check_known_keys(raw.get("backbone") or {}, {"arch", "config", "layer"}, f"{path}: backbone")
    try:
        return SearchRecipe(**raw)
    except TypeError as err:
        raise HpbenchError(f"{path}: {err}") from None
