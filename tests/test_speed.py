"""Speed and size as results: the measured section is complete and valid, it reaches the record and the
leaderboard, and an ONNX export is written only when its parity holds (every head-pose family)."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
import yaml

from hpbench.errors import HpbenchError
from hpbench.evaluation.records import ResultRecord
from hpbench.evaluation.speed import bench_section
from hpbench.leaderboard.build import build_files
from hpbench.leaderboard.chart import pareto
from hpbench.leaderboard.rows import leaderboards_dir
from hpbench.models import create_model
from hpbench.models.checkpoint import Checkpoint
from hpbench.models.export import random_parity, start_export
from hpbench.models.loading import load_model
from tests.conftest import one_per_family, run_cli

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install -e '.[onnx]')")
SIZE = 64


def _valid_runs(section):
    return all(all(isinstance(r[k], (int, float)) and math.isfinite(r[k]) and r[k] >= 0
                   for k in ("median_ms", "p90_ms", "images_per_s")) and r["p90_ms"] >= r["median_ms"] * 0.5
               for r in section["runs"])


def test_the_speed_section_is_complete_and_valid():
    torch.manual_seed(0)
    section = bench_section(create_model("hopenet.resnet18"), input_size=SIZE, batch=4, repeats=2, warmup=1)
    assert set(section) >= {"hardware", "versions", "settings", "runs", "peak_memory_mb", "parameters_m", "gflops"}
    assert section["hardware"]["cores"] >= 1 and section["versions"]["torch"] == torch.__version__
    measured = {(r["runtime"], r["setting"], r["batch"]) for r in section["runs"]}
    assert measured == {(runtime, setting, batch) for runtime in ("torch", "onnxruntime")
                        for setting in ("1 thread", "all threads") for batch in (1, 4)}
    assert _valid_runs(section) and section["parameters_m"] > 1 and section["gflops"] > 0
    assert "largest difference" in section["note"]


@pytest.fixture(scope="module")
def head(prepared_aflw2000, tmp_path_factory):
    folder = tmp_path_factory.mktemp("speed")
    (folder / "data").mkdir()
    (folder / "data" / "aflw2000.h5").symlink_to(prepared_aflw2000)
    (folder / "p.yaml").write_text(yaml.safe_dump({
        "name": "speed-check", "title": "speed", "version": 1, "changelog": [{"version": 1}], "task": "headpose",
        "filter": {"limit": 99}, "crop": "kd", "input_size": SIZE, "metrics": ["mae"], "missing_face": "fallback",
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }))
    torch.manual_seed(0)
    Checkpoint.of_model(create_model("hopenet.resnet18", input_size=SIZE)).save(folder / "m.pt")
    return folder


def test_evaluate_bench_keeps_the_speed_in_the_record(head, capsys):
    code, out, err = run_cli(capsys, "evaluate", head / "m.pt", "--protocol", head / "p.yaml", "--data",
                             head / "data", "--workers", "0", "--bench", "--out", head / "r.json")
    assert code == 0, err
    assert "median ms" in out and "onnxruntime" in out
    record = ResultRecord.load(head / "r.json")
    assert record.speed["settings"]["input_size"] == SIZE and _valid_runs(record.speed)
    content = json.loads((head / "r.json").read_text())
    content["speed"]["runs"][0]["median_ms"] = float("nan")
    with pytest.raises(HpbenchError, match="speed.runs\\[0\\]"):
        ResultRecord.from_dict(content, "forged.json")


def test_the_leaderboard_shows_a_measured_latency_with_its_machine(tmp_path):
    board = tmp_path / "leaderboards"
    shutil.copytree(leaderboards_dir(), board)
    (path,) = (board / "results").glob("synthetic__*.json")
    content = json.loads(path.read_text())
    content["speed"] = {"hardware": {"cpu": "Some CPU | <b>", "cores": 2, "gpu": None},
                        "runs": [{"runtime": "torch", "device": "cpu", "setting": "1 thread", "batch": 1,
                                  "median_ms": 12.5, "p90_ms": 13.0, "images_per_s": 80.0}]}
    path.write_text(json.dumps(content))
    files = build_files(board)
    section = files["README.md"].decode().split("## synthetic —")[1].split("\n## ")[0]
    assert "batch-1 ms (measured on)" in section and "12.50 (Some CPU \\| &lt;b&gt;, 1 thread)" in section
    assert files["synthetic-speed.png"].startswith(b"\x89PNG") and "(synthetic-speed.png)" in section
    assert "p1-speed.png" not in files  # no record of p1 was timed


def test_the_pareto_front_keeps_what_nothing_beats_on_both():
    points = [(1.0, 5.0), (2.0, 4.0), (3.0, 6.0), (0.5, 7.0)]  # (ms, MAE)
    assert pareto(points, higher_is_better=False) == [0, 1, 3]  # (3, 6) is slower and worse than (1, 5)
    assert pareto(points, higher_is_better=True) == [3]  # for a PCK, higher is better: (0.5, 7) beats all


def test_export_writes_nothing_when_parity_is_off(head, tmp_path, capsys):
    code, out, err = run_cli(capsys, "export", head / "m.pt", "--onnx", tmp_path / "m.onnx", "--protocol",
                             head / "p.yaml", "--data", head / "data", "--workers", "0")
    assert code == 0, err
    assert "test crops): largest difference" in out and (tmp_path / "m.onnx.json").is_file()
    assert json.loads((tmp_path / "m.onnx.json").read_text())["convention"] == "hopenet"
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "m.onnx", "--protocol", head / "p.yaml", "--data",
                           head / "data", "--workers", "0", "--out", tmp_path / "onnx.json")
    assert code == 0, err
    code, _, err = run_cli(capsys, "export", head / "m.pt", "--onnx", tmp_path / "off.onnx", "--tolerance", "1e-12")
    assert code == 1 and "parity is off" in err and "nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json", "onnx.json"]
    code, _, err = run_cli(capsys, "export", head / "m.pt", "--onnx", tmp_path / "m.pt2")
    assert code == 1 and "must end in .onnx" in err


@pytest.mark.slow
@pytest.mark.parametrize("arch", one_per_family())
def test_every_family_exports_with_parity_or_says_why_not(arch, tmp_path):
    loaded = load_model(create_model(arch))
    if loaded.task != "headpose":
        with pytest.raises(HpbenchError, match="only head-pose models export"):
            start_export(loaded, tmp_path / "m.onnx", SIZE)
        return
    made = start_export(loaded, tmp_path / "m.onnx", SIZE)
    parity = random_parity(loaded, made.graph, SIZE)
    assert parity.ok, parity
    assert made.publish() == tmp_path / "m.onnx" and load_model(tmp_path / "m.onnx").kind == "onnx"
