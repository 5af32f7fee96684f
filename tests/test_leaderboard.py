"""Leaderboards: the transcribed numbers against the papers' text, rebuilds, --check, stale and bad records."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from hpbench.errors import HpbenchError
from hpbench.evaluation.conformance import conformance
from hpbench.leaderboard.build import build_files, check
from hpbench.leaderboard.rows import leaderboards_dir, load_records
from hpbench.evaluation.records import ResultRecord
from hpbench.protocols import load_protocol
from hpbench.resources import bundled_dir
from tests.conftest import run_cli


def _reported():
    return yaml.safe_load((leaderboards_dir() / "reported.yaml").read_text())["rows"]


def _table_lines(text: str, header_start: str, count: int) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    return [line.split("\t") for line in lines[start:start + count] if "\t" in line]


def test_every_table_5_number_matches_seed_001(seeds):
    """All rows of KD's Table 5, every protocol: (pitch, yaw, roll, avg) groups for P1 AFLW2000, P1 BIWI, P2, P3."""
    text = (seeds / "001_79f45336e6d45ef3.txt").read_text()
    table = {cells[0]: cells for cells in _table_lines(text, "HopeNet [23]\t", 26)}
    rows = [r for r in _reported() if r["source"]["paper"] == "seed001"]
    assert len(table) == 26 and {r["source"]["row"] for r in rows} == set(table)
    groups = {("p1", "aflw2000"): 0, ("p1", "biwi"): 4, ("biwi-fsa", "biwi"): 4, ("p2", "aflw"): 8, ("p3", "biwi"): 12}
    checked = 0
    for row in rows:
        cells = (table[row["source"]["row"]][2:] + [""] * 16)[:16]
        for dataset, values in row["results"].items():
            offset = groups[(row["protocol"], dataset)]
            pitch, yaw, roll, mean = (float(v) for v in cells[offset:offset + 4])
            assert values == {"yaw": yaw, "pitch": pitch, "roll": roll, "mae": mean}, row["source"]["row"]
            checked += 1
    transcribed = sum(1 for cells in table.values() for k in range(4) if cells[2:][4 * k:4 * k + 4] != [""] * 4
                      and len(cells[2:]) > 4 * k and cells[2 + 4 * k].strip())
    assert checked == transcribed == 86  # every filled (protocol, dataset) group of the table


def test_seed_000_tables_2_and_4(seeds):
    text = (seeds / "000_04593af6b90e1e1f.txt").read_text()
    table2 = _table_lines(text, "HopeNet* [5]", 25)
    rows2 = [r for r in _reported() if r["source"]["paper"] == "seed000" and r["source"]["table"] == "2"]
    assert len(rows2) == len(table2) == 23
    for row, cells in zip(rows2, table2):
        yaw, pitch, roll, mean = (float(v) for v in cells[3:7])
        assert row["results"]["aflw2000"] == {"yaw": yaw, "pitch": pitch, "roll": roll, "mae": mean}
        assert row["source"]["row"].startswith(cells[0])
        reduced = "*" in cells[0] or (cells[0] == "HMTL 3×3 puzzling" and cells[6] == "4.74")
        unmarked = "⁺" in cells[0]  # 1° bins; the paper does not say which AFLW2000 it scored
        expected = ("p1", False) if unmarked else ("p1" if reduced else "p1-unfiltered", True)
        assert (row["protocol"], row.get("comparable", True)) == expected
    table1 = _table_lines(text, "HMTL puzzling-rotation 2×2\t1", 13)
    rows1 = [r for r in _reported() if r["source"]["paper"] == "seed000" and r["source"]["table"] == "1"]
    distinct = list(dict.fromkeys(tuple(cells) for cells in table1))  # the text repeats one row three times
    assert len(rows1) == len(distinct) == 11
    for row, (method, flag, yaw, pitch, mean) in zip(rows1, distinct):
        assert row["protocol"] == "xgaze-1subject" and row["source"]["row"] == f"{method} | {flag}"
        assert row["results"]["xgaze"] == {"yaw": float(yaw), "pitch": float(pitch), "mae": float(mean)}
        assert row["variant"].get("flag_point", "-") == (int(flag) if flag != "-" else "-")
    (ablation,) = [r for r in _reported() if r["source"]["paper"] == "seed000" and r["source"]["table"] == "3"]
    assert list(ablation["results"]["aflw2000"].values()) == [4.589, 6.223, 4.465, 5.092]
    table4 = _table_lines(text, "SL\t1\t4.618", 12)
    rows4 = [r for r in _reported() if r["source"]["table"] == "4"]
    assert len(rows4) == len(table4) == 12
    for row, (method, subjects, yaw, pitch, mean) in zip(rows4, table4):
        assert row["protocol"] == f"xgaze-{subjects}subject"
        assert row["results"]["xgaze"] == {"yaw": float(yaw), "pitch": float(pitch), "mae": float(mean)}


def test_seed_002_losses_of_tables_4_1_to_4_4(seeds):
    """CPM-SSL's minimum test losses: each reported row's number is its row of its table in the text."""
    text = (seeds / "002_535a64f2a62797c8.txt").read_text()
    rows = [r for r in _reported() if r["source"]["paper"] == "seed002"]
    assert [r["source"]["table"] for r in rows] == ["4.1", "4.2", "4.2", "4.3", "4.3", "4.4", "4.4"]
    for row in rows:
        before = text.split(f"**Table {row['source']['table']}:**")[0][-300:]
        (cells,) = [line.split("\t") for line in before.splitlines() if line.startswith(row["source"]["row"] + "\t")]
        assert row["results"] == {"lsp": {"loss": float(cells[2])}} and row["protocol"] == "lsp-cpm"
        assert "not a PCK" in row["note"]


def test_committed_leaderboards_are_up_to_date():
    assert check() == []


def test_rebuild_is_byte_identical():
    assert build_files() == build_files()


@pytest.fixture
def board(tmp_path):
    folder = tmp_path / "leaderboards"
    shutil.copytree(leaderboards_dir(), folder)
    return folder


def _record(folder):
    paths = sorted((folder / "results").glob("synthetic__*.json"))  # a record of the synthetic protocol
    assert paths, "the committed leaderboard holds a reproduced record"
    return paths[0]


def test_check_fails_after_a_record_is_edited(board, capsys):
    path = _record(board)
    record = json.loads(path.read_text())
    dataset = next(iter(record["results"]))
    record["results"][dataset]["metrics"]["mae"] += 1.0
    path.write_text(json.dumps(record))
    code, out, _ = run_cli(capsys, "leaderboard", "build", "--check", "--dir", board)
    assert code == 1 and "leaderboards differ from a rebuild" in out and "rebuilt/" in out
    code, _, _ = run_cli(capsys, "leaderboard", "build", "--dir", board)
    assert code == 0 and check(board) == []


def test_a_record_of_an_older_protocol_version_is_stale(board):
    path = _record(board)
    record = json.loads(path.read_text())
    record["protocol"]["version"] = 0
    path.write_text(json.dumps(record))
    (row,) = [r for r in load_records(board / "results") if r.reference == path.name]
    assert row.stale
    files = build_files(board)
    csv_text = files[f"{record['protocol']['name']}.csv"].decode()
    current = load_protocol(record["protocol"]["name"]).version
    assert ",stale," in csv_text and f"older than the current v{current}" in csv_text
    assert "· stale" in files["README.md"].decode()


def test_malformed_records_name_the_file(board):
    bad = board / "results" / "broken.json"
    bad.write_text(json.dumps({"protocol": {"name": "p1"}, "results": {}}))
    with pytest.raises(HpbenchError, match=re.escape(f"{bad}: malformed result record")):
        build_files(board)
    bad.write_text("{not json")
    with pytest.raises(HpbenchError, match="not readable JSON"):
        build_files(board)


def test_a_record_reads_and_writes_back_unchanged(board):
    path = _record(board)
    record = ResultRecord.load(path)
    assert record.to_json() == path.read_text() and record.leaderboard_path(path.parent) == path
    content = json.loads(path.read_text())
    content["results"][next(iter(content["results"]))]["countz"] = {}
    path.write_text(json.dumps(content))
    with pytest.raises(HpbenchError, match="unknown key 'results.aflw2000.countz'"):
        ResultRecord.load(path)


@pytest.mark.parametrize("change, reason", [
    (lambda r, d: r["evaluation"].update(crop="square"), "crop square (the protocol's: square-margin)"),
    (lambda r, d: r["evaluation"].update(input_size=224), "input size 224 (the protocol's: 64)"),
    (lambda r, d: r["results"][d].update(box_source="reference"), "boxes reference (the protocol's: landmarks)"),
    (lambda r, d: r["results"][d]["counts"].update(evaluated=r["results"][d]["counts"]["evaluated"] - 3),
     "3 selected samples not scored"),
    (lambda r, d: r["results"][d].update(keys_sha256="0" * 64), "another test set than the other records'"),
])
def test_a_record_that_does_not_conform_is_shown_apart_with_its_reason(board, change, reason):
    """The conformance rule: a record that differs from its protocol (or, for the test set, from the
    other records) in one way is listed apart, with the reason, never ranked or bold; the conforming
    ones stay ranked."""
    path = _record(board)
    record = json.loads(path.read_text())
    dataset = next(iter(record["results"]))
    record["model"]["sha256"] = "e" * 64  # the same run scored again: a second conforming row
    (board / "results" / "same.json").write_text(json.dumps(record))
    change(record, dataset)
    record["model"]["sha256"] = "f" * 64  # another file: a third row, the one that differs
    (board / "results" / "other.json").write_text(json.dumps(record))
    rows = {r.reference: r for r in load_records(board / "results")}
    assert rows[path.name].comparable and rows["same.json"].comparable and not rows["other.json"].comparable
    assert reason in rows["other.json"].note
    readme = build_files(board)["README.md"].decode()
    ranked, apart = readme.split("## synthetic —")[1].split("\n## ")[0].split("Shown apart, not ranked (1)")
    assert "ffffffff" not in ranked and reason in apart and "**" not in apart


def test_frozen_key_lists_decide_the_test_set(board):
    path = _record(board)
    record = json.loads(path.read_text())
    dataset = next(iter(record["results"]))
    protocol = board.parent / "frozen.yaml"
    spec = yaml.safe_load((bundled_dir("protocols") / "synthetic.yaml").read_text())
    spec["frozen_keys_sha256"] = {dataset: "0" * 64}
    protocol.write_text(yaml.safe_dump(spec))
    reasons = conformance(ResultRecord.from_dict(record, path), load_protocol(protocol))
    evaluated = record["results"][dataset]["counts"]["evaluated"]
    assert reasons == [f"{dataset}: not the protocol's frozen test list ({evaluated} samples)"]
    spec["frozen_keys_sha256"] = {dataset: record["results"][dataset]["keys_sha256"]}
    protocol.write_text(yaml.safe_dump(spec))
    assert conformance(ResultRecord.from_dict(record, path), load_protocol(protocol)) == []


def test_compare_puts_records_side_by_side_with_their_conformance(board, capsys):
    path = _record(board)
    record = json.loads(path.read_text())
    record["evaluation"]["crop"] = "square"
    (board / "other.json").write_text(json.dumps(record))
    code, out, _ = run_cli(capsys, "compare", path, board / "other.json")
    assert code == 0
    first, second = [line for line in out.splitlines() if line.startswith((path.name, "other.json"))]
    assert first.endswith("conforms") and "crop square (the protocol's: square-margin)" in second


def test_one_model_from_three_sources_is_one_row_and_two_numbers_are_two(tmp_path):
    """Rows whose numbers agree to 0.01 (one source rounds, another truncates) merge and cite every
    source; rows of one model with other numbers stay apart, and must each say why."""
    from hpbench.leaderboard.rows import load_reported

    def entry(paper, results, differs=None):
        extra = f"    differs: \"{differs}\"\n" if differs else ""
        return (f"  - method: m\n    model: \"hopenet.resnet50\"\n    protocol: p1\n"
                f"    source: {{paper: {paper}, table: \"1\", row: \"HopeNet\"}}\n{extra}    results:\n"
                f"      aflw2000: {results}\n")

    head = "sources:\n  a: \"Paper A\"\n  b: \"Paper B\"\n  c: \"Paper C\"\nrows:\n"
    same = [entry("a", "{yaw: 6.47, pitch: 6.55, roll: 5.43, mae: 6.15}"),
            entry("b", "{yaw: 6.470, pitch: 6.559, roll: 5.436, mae: 6.155}"), entry("c", "{mae: 6.16}")]
    (tmp_path / "r.yaml").write_text(head + "".join(same))
    (row,) = load_reported(tmp_path / "r.yaml")
    assert [part.split(",")[0] for part in row.reference.split("; ")] == ["Paper A", "Paper B", "Paper C"]
    assert row.results["aflw2000"] == {"yaw": 6.47, "pitch": 6.55, "roll": 5.43, "mae": 6.15}

    other = entry("c", "{yaw: 6.92, pitch: 6.64, roll: 5.67, mae: 6.41}")
    (tmp_path / "r.yaml").write_text(head + same[0] + other)
    with pytest.raises(HpbenchError, match="hopenet.resnet50 has 2 different results under p1; each row needs "
                                           "'differs:'"):
        load_reported(tmp_path / "r.yaml")
    (tmp_path / "r.yaml").write_text(head + entry("a", "{mae: 6.15}", "the α=2 weights")
                                     + entry("c", "{mae: 6.41}", "the α=1 weights"))
    rows = load_reported(tmp_path / "r.yaml")
    assert [(r.results["aflw2000"]["mae"], r.note) for r in rows] == [(6.15, "the α=2 weights"),
                                                                     (6.41, "the α=1 weights")]


def test_the_committed_rows_name_one_model_once():
    """p1's HopeNet (KD's Table 5, seed 000's Table 2, the α=2 release) is one row citing three sources."""
    from hpbench.leaderboard.rows import load_reported

    rows = [r for r in load_reported(leaderboards_dir() / "reported.yaml")
            if (r.protocol, r.model) == ("p1", "hopenet.resnet50")]
    assert len(rows) == 1 and rows[0].reference.count("; ") == 2
