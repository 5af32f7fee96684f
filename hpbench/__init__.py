"""hpbench: a benchmark and dataset-standardisation toolkit for head-pose estimation.

The Python API, each name imported when first used (``import hpbench`` stays light)::

    import hpbench
    result = hpbench.evaluate(my_module, "p1", data="data", convention="hpbench")   # a module, callable or file
    result.record.write("p1-mine.json")
    hpbench.score("predictions.csv", "p1", data="data")                             # predictions made anywhere

``evaluate`` and ``score`` return an ``Evaluation`` (hpbench.evaluation.evaluate): the record and the
per-sample predictions; docs/API.md.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "evaluate": "hpbench.api",
    "score": "hpbench.api",
    "sensitivity": "hpbench.api",
    "load_protocol": "hpbench.protocols",
    "list_protocols": "hpbench.protocols",
    "create_model": "hpbench.models",
    "list_models": "hpbench.models",
    "HPFile": "hpbench.format",
    "Preprocessing": "hpbench.data.transforms",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'hpbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
