"""One seam for the task: metrics that know their columns and direction, records that know their format,
a protocol of any metric through evaluate → leaderboard → compare, and an import graph without cycles."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

import hpbench
from hpbench.errors import HpbenchError
from hpbench.evaluation.records import RECORD_FORMAT, ResultRecord
from hpbench.leaderboard.build import build_files
from hpbench.leaderboard.rows import leaderboards_dir
from hpbench.metrics import METRICS, metric_columns, primary_column
from hpbench.models import create_model
from hpbench.models.checkpoint import Checkpoint
from hpbench.protocols import protocols_dir
from hpbench.tasks import TASKS
from tests.conftest import run_cli

PACKAGE = Path(hpbench.__file__).parent


def test_a_metric_knows_its_columns_direction_and_range():
    assert [(c.key, c.board, c.header) for c in metric_columns(["mae"])] == [
        ("mae_yaw", "yaw", "yaw"), ("mae_pitch", "pitch", "pitch"), ("mae_roll", "roll", "roll"), ("mae", "mae", "MAE")]
    pck = primary_column(["pck@0.1", "pck@0.2"])
    assert (pck.key, pck.header, pck.higher_is_better, pck.digits) == ("pck@0.1", "PCK@0.1", True, 4)
    geodesic = primary_column(["geodesic"])
    assert (geodesic.header, geodesic.higher_is_better, geodesic.unit) == ("geodesic", False, "geodesic (degrees)")
    for name in METRICS.names():
        metric = METRICS.get(name)
        assert metric.task in TASKS and metric.unit and (metric.upper <= 1) == metric.higher_is_better


def test_every_task_implements_the_interface():
    for name, task in TASKS.items():
        assert task.name == name and task.title and task.missing_face and task.counts
        for method in ("setup", "predictor", "dataset", "predict", "score", "baseline", "draw", "write_predictions",
                       "describe", "notes", "training_run", "handed_out", "rows_of", "from_file"):
            assert getattr(type(task), method) is not getattr(hpbench.tasks.Task, method), f"{name}.{method}"


def _record(name: str) -> Path:
    (path,) = (leaderboards_dir() / "results").glob(f"{name}__*.json")
    return path


def test_compare_shows_the_pck_of_a_body_pose_record(capsys):
    path = _record("synthetic-lsp")
    pck = json.loads(path.read_text())["results"]["lsp"]["metrics"]["pck@0.2"]
    code, out, _ = run_cli(capsys, "compare", path)
    assert code == 0
    header, _, row = out.splitlines()[:3]
    assert "lsp PCK@0.2" in header and "yaw" not in header and f"{pck:.4f}" in row


def test_compare_puts_head_and_body_records_in_one_table(capsys):
    code, out, _ = run_cli(capsys, "compare", _record("synthetic"), _record("synthetic-lsp"))
    header = out.splitlines()[0]
    assert code == 0 and "aflw2000 MAE" in header and "lsp PCK@0.2" in header


def test_a_record_of_a_newer_format_asks_for_an_upgrade(tmp_path):
    content = json.loads(_record("synthetic").read_text())
    content["record_format"] = RECORD_FORMAT + 1
    path = tmp_path / "newer.json"
    path.write_text(json.dumps(content))
    with pytest.raises(HpbenchError, match=rf"written by a newer hpbench \(record format {RECORD_FORMAT + 1}.*upgrade"):
        ResultRecord.load(path)


def test_an_older_record_is_upgraded_on_reading_and_written_back_as_it_was():
    path = _record("synthetic")
    content = json.loads(path.read_text())
    assert content["record_format"] < RECORD_FORMAT
    record = ResultRecord.load(path)
    assert (record.protocol.task, record.protocol.metrics) == ("headpose", ["mae"])
    assert record.to_json() == path.read_text()
    content["results"]["aflw2000"]["mean_predictor_mae"] = 23.12  # format 2's field, format 3's scores
    assert ResultRecord.from_dict(content, path).results["aflw2000"].mean_predictor_scores == {"mae": 23.12}
    body = ResultRecord.load(_record("synthetic-lsp"))
    assert (body.protocol.task, body.protocol.metrics) == ("bodypose", ["pck@0.2"])


def test_a_current_record_must_hold_its_first_metric(tmp_path):
    record = ResultRecord.load(_record("synthetic-lsp"))
    content = json.loads(record.to_json())
    content.update(record_format=RECORD_FORMAT)
    content["protocol"].update(task="bodypose", metrics=["pck@0.1"], sha256="0" * 64)
    content["results"]["lsp"].pop("mean_predictor_mae")  # format 2's field
    metrics = content["results"]["lsp"]["metrics"]
    metrics["pck@0.1"] = metrics.pop("pck@0.2")
    assert ResultRecord.from_dict(content, "ok.json").protocol.metrics == ["pck@0.1"]
    del metrics["pck@0.1"]
    with pytest.raises(HpbenchError, match=r"no numeric metrics.pck@0.1 \(the protocol's first metric\)"):
        ResultRecord.from_dict(content, "bad.json")
    content["results"]["lsp"]["metrics"]["pck@0.1"] = 1.5
    with pytest.raises(HpbenchError, match=r"pck@0.1' = 1.5 is outside \[0, 1\]"):
        ResultRecord.from_dict(content, "bad.json")
    content["results"]["lsp"]["metrics"]["pck@0.1"] = 0.5
    content["protocol"]["metrics"] = ["geodesic"]
    with pytest.raises(HpbenchError, match="'protocol.metrics' 'geodesic' scores headpose, not bodypose"):
        ResultRecord.from_dict(content, "bad.json")


@pytest.fixture
def own_protocols(tmp_path, monkeypatch):
    """A copy of the bundled protocols (and leaderboards) that a test may add a protocol to."""
    import hpbench.protocols
    import hpbench.resources

    folders = {"protocols": tmp_path / "protocols", "leaderboards": tmp_path / "leaderboards"}
    shutil.copytree(protocols_dir(), folders["protocols"])
    shutil.copytree(leaderboards_dir(), folders["leaderboards"])
    original = hpbench.resources.bundled_dir

    def bundled(name: str) -> Path:
        return folders.get(name) or original(name)

    monkeypatch.setattr(hpbench.resources, "bundled_dir", bundled)
    monkeypatch.setattr(hpbench.protocols, "bundled_dir", bundled)
    return folders


def _through_evaluate_leaderboard_and_compare(capsys, folders, protocol: dict, model: Path, data: Path,
                                              column: str) -> tuple[dict, str]:
    (folders["protocols"] / f"{protocol['name']}.yaml").write_text(yaml.safe_dump(protocol))
    records = folders["leaderboards"] / "results"
    code, out, err = run_cli(capsys, "evaluate", model, "--protocol", protocol["name"], "--data", data, "--workers",
                             "0", "--out", folders["leaderboards"].parent / "record.json", "--record", records)
    assert code == 0, err
    record = json.loads((folders["leaderboards"].parent / "record.json").read_text())
    assert record["record_format"] == RECORD_FORMAT and record["protocol"]["metrics"] == protocol["metrics"]
    dataset = protocol["splits"]["test"][0]["dataset"]
    value = record["results"][dataset]["metrics"][column]
    files = build_files(folders["leaderboards"])
    header, row = files[f"{protocol['name']}.csv"].decode().splitlines()
    cells = dict(zip(header.split(","), row.split(",")))
    column_digits = primary_column(protocol["metrics"]).digits
    assert cells[f"{dataset}_{column}"] == f"{value:.{column_digits}f}"
    readme = files["README.md"].decode().split(f"## {protocol['name']} —")[1].split("\n## ")[0]
    assert f"{dataset} {primary_column(protocol['metrics']).header}" in readme
    assert files[f"{protocol['name']}.png"].startswith(b"\x89PNG")
    (recorded,) = records.glob(f"{protocol['name']}__*.json")
    code, compared, _ = run_cli(capsys, "compare", recorded)
    assert code == 0 and f"{dataset} {primary_column(protocol['metrics']).header}" in compared.splitlines()[0]
    assert compared.splitlines()[2].endswith("conforms")
    return record, out


def test_a_protocol_scored_by_geodesic_alone_goes_end_to_end(own_protocols, prepared_aflw2000, tmp_path, capsys):
    protocol = {
        "name": "geodesic-check", "title": "geodesic only", "origin": "hpbench", "version": 1,
        "changelog": [{"version": 1, "date": "2026-12-07", "change": "test"}], "task": "headpose",
        "filter": {"limit": 99}, "crop": "kd", "input_size": 64, "metrics": ["geodesic"], "missing_face": "fallback",
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }
    torch.manual_seed(0)
    model = tmp_path / "hopenet.pt"
    Checkpoint.of_model(create_model("hopenet.resnet18", input_size=64)).save(model)
    record, out = _through_evaluate_leaderboard_and_compare(capsys, own_protocols, protocol, model,
                                                            prepared_aflw2000.parent, "geodesic")
    assert set(record["results"]["aflw2000"]["metrics"]) == {"geodesic"}
    assert "geodesic" in out.splitlines()[1] and "MAE" not in out.splitlines()[1]
    assert "leaderboard: conforms to geodesic-check v1" in out


def test_a_protocol_scored_by_pck_at_0_1_goes_end_to_end(own_protocols, prepared_lsp, tmp_path, capsys):
    protocol = yaml.safe_load((own_protocols["protocols"] / "synthetic-lsp.yaml").read_text())
    protocol.update(name="pck01-check", metrics=["pck@0.1"])
    data = tmp_path / "data"
    data.mkdir()
    (data / "lsp.h5").symlink_to(prepared_lsp)
    torch.manual_seed(0)
    model = tmp_path / "cpm.pt"
    Checkpoint.of_model(create_model("cpm.6stage", stages=2, input_size=96, width=0.125)).save(model)
    record, out = _through_evaluate_leaderboard_and_compare(capsys, own_protocols, protocol, model, data, "pck@0.1")
    assert set(record["results"]["lsp"]["metrics"]) == {"pck@0.1", "loss"}
    assert "PCK@0.1" in out and "pck@0.2" not in out.lower()


# ------------------------------------------------------------------------------------------- the imports


def _imports() -> dict[str, set[str]]:
    """Module → the hpbench modules it imports, counting every import statement (a function-level import
    that would dodge a cycle is still an edge)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("hpbench", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # a package's own __init__ is not an edge from inside the package (its modules register there)
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def test_the_package_imports_have_no_cycle():
    graph, state, cycles = _imports(), {}, []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_only_the_task_modules_branch_on_a_task_name():
    """Evaluation, training, the search, compare and the leaderboard ask the task (hpbench.tasks); the
    prepared-file layout (hpbench.format), which names the datasets each task's files hold, is the one
    place below them that compares a task's name."""
    names = {task for task in TASKS.names()}
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("tasks/", "format/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                for side in (node.left, *node.comparators):
                    if isinstance(side, ast.Constant) and side.value in names:
                        found.append(f"{relative}:{node.lineno}")
    assert found == []
