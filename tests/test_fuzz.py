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


# --- the second round (issue 27): fuzzed values in the files hpbench reads as settings or results ----


FUZZ_VALUES = [None, "", "x" * 300, "../../escaped", "a|b\n<c>", -1, 0, 10**30, -1e308, 1.5, float("nan"),
               float("inf"), True, [], [1, "a"], {}, {"x": {"y": None}}]


def _leaves(value, path=()):
    """(path, value) of every leaf of a nested mapping or list."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _mutated(content, seed: int):
    """A deep copy of ``content`` with one leaf (or one key's value, or a whole branch) replaced."""
    import copy
    import random

    rng = random.Random(seed)
    content = copy.deepcopy(content)
    path, _ = rng.choice(list(_leaves(content)))
    path = path[:rng.randint(1, len(path))] if path else path  # sometimes a whole branch
    node = content
    for key in path[:-1]:
        node = node[key]
    if path:
        node[path[-1]] = copy.deepcopy(rng.choice(FUZZ_VALUES))
    return content, ".".join(map(str, path))


def _outcome(argv) -> tuple[int, str]:
    from tests.test_hostile import in_process

    return in_process([str(a) for a in argv])


def _judged(code: int, output: str, where: str, allowed=(0, 1)) -> None:
    assert "Traceback (most recent call last)" not in output, f"{where}: {output[-1500:]}"
    assert code in allowed, f"{where}: exit {code}: {output[-800:]}"
    if code == 1:
        assert output.strip().splitlines()[-1].startswith("hpbench "), f"{where}: {output[-500:]}"


@pytest.mark.slow
def test_fuzzed_records_never_traceback_forge_or_escape(tmp_path):
    """A committed record with one value replaced, 60 times (each build draws every chart): leaderboard build refuses it in one line
    or builds files that stay in the folder, with no forged row and nothing non-finite ranked."""
    import json
    import shutil

    from hpbench.leaderboard.rows import leaderboards_dir

    source = sorted((leaderboards_dir() / "results").glob("synthetic__*.json"))[0]
    record = json.loads(source.read_text())
    for seed in range(60):
        board = tmp_path / f"board{seed}"
        (board / "results").mkdir(parents=True)
        shutil.copy(leaderboards_dir() / "reported.yaml", board / "reported.yaml")
        mutated, where = _mutated(record, seed)
        (board / "results" / source.name).write_text(json.dumps(mutated))
        code, output = _outcome(["leaderboard", "build", "--dir", board])
        _judged(code, output, f"seed {seed}, record key {where}")
        outside = [p for p in tmp_path.iterdir() if not p.name.startswith("board")]
        assert not outside, f"seed {seed}: wrote {outside}"
        if code == 0:
            readme = (board / "README.md").read_text()
            assert "<c>" not in readme and "nan" not in (board / "synthetic.csv").read_text().lower(), seed


@pytest.mark.slow
def test_fuzzed_protocols_and_recipes_never_traceback(tmp_path, prepared_aflw2000):
    """A protocol (shown with its counts) and a recipe (trained on it) with one value replaced, 80
    times each: one clear line or a run that works, never a traceback nor a run folder outside --out."""
    import yaml

    from hpbench.resources import bundled_dir

    data = tmp_path / "data"
    data.mkdir()
    (data / "aflw2000.h5").write_bytes(prepared_aflw2000.read_bytes())
    protocol = yaml.safe_load((bundled_dir("protocols") / "synthetic.yaml").read_text())
    for seed in range(80):
        mutated, where = _mutated(protocol, seed)
        path = tmp_path / f"protocol{seed}.yaml"
        path.write_text(yaml.safe_dump(mutated))
        code, output = _outcome(["protocols", "show", path, "--data", data])
        _judged(code, output, f"seed {seed}, protocol key {where}")
    recipe = yaml.safe_load((bundled_dir("baselines") / "demo-hopenet.yaml").read_text())
    recipe.update(epochs=1, batch_size=4)
    check = tmp_path / "check.yaml"
    check.write_text(yaml.safe_dump({**protocol, "name": "check", "splits": {
        "train": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]}}))
    for seed in range(80):
        mutated, where = _mutated(recipe, seed)
        path = tmp_path / f"recipe{seed}.yaml"
        path.write_text(yaml.safe_dump(mutated))
        code, output = _outcome(["train", path, "--protocol", check, "--data", data, "--out", tmp_path / "run",
                                 "--workers", "0", "--device", "cpu", "--restart"])
        _judged(code, output, f"seed {seed}, recipe key {where}")
        assert not list(tmp_path.glob("escaped*")), seed
