"""``hpbench models [TEXT]``."""

from __future__ import annotations

from hpbench.models import list_models
from hpbench.models.loading import FORMATS


def run(pattern: str = "") -> int:
    """``hpbench models [TEXT]``: the registered architectures (names containing TEXT, or matching it as
    a glob), then the model file formats ``hpbench evaluate`` reads."""
    glob = any(char in pattern for char in "*?[")
    names = list_models(pattern) if glob else [name for name in list_models() if pattern in name]
    print("\n".join(names) if names else f"no architecture matches {pattern!r}")
    if not pattern:
        print("\nmodel files hpbench evaluate reads:")
        width = max(map(len, FORMATS))
        print("\n".join(f"  {name:<{width}}  {text}" for name, text in FORMATS.items()))
    return 0
