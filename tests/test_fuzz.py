"""Fuzzed raw files for every converter (``pytest -m slow``): byte flips, truncations and zeroed
spans of .mat, JPEG, PNG, sqlite, HDF5 and text inputs, seeded and bounded. Every run must end with
a clear error or a ``--skip-bad`` report that adds up, never a traceback or a dead process, and
nothing it stores may be an image libjpeg reports as damaged or a file ``verify`` fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpbench.converters import CONVERTERS
from tests.hostile_cases import RAW, RawSamples

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 10


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> RawSamples:
    return RawSamples(tmp_path_factory.mktemp("fuzz-raw"))


@pytest.mark.slow
@pytest.mark.parametrize("dataset", [name for name in CONVERTERS.names() if name in RAW] + ["wider"])
def test_fuzzed_inputs_never_crash_or_store_damage(dataset, raw, tmp_path):
    source = raw.copy(dataset, tmp_path / "raw")
    done = subprocess.run([sys.executable, "-m", "tests.fuzz_inputs", dataset, str(source), str(tmp_path / "work"),
                           "0", str(SEEDS)], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and len(results) == SEEDS, f"the run died after {len(results)}: {done.stderr[-800:]}"
    for result in results:
        assert not result["traceback"] and result["code"] in (0, 1), result
        if result["code"] == 1:
            assert result["said"].startswith(("hpbench prepare: error:", "hpbench detector prepare-wider: error:")), result
        else:
            assert result["adds_up"] and result["images_intact"] and result["verifies"], result
