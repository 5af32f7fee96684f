"""Where every benchmark records its numbers: ``benchmarks/results/<name>.json``."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def record(name: str, results: dict) -> Path:
    """Write ``results`` as ``results/<name>.json`` and say where."""
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"recorded in {out}")
    return out
