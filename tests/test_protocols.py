"""Protocol files and sample selection on synthetic prepared data, with exact counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hpbench.errors import HpbenchError
from hpbench.format import HPFile
from hpbench.pose import inside_range
from hpbench.protocols import keys_sha256, list_protocols, load_protocol, protocols_dir, select
from hpbench.registry import UnknownName
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, prepared_aflw, prepared_biwi, prepared_300w_lp, prepared_xgaze):
    """One folder with (links to) the prepared synthetic AFLW, BIWI, 300W-LP and ETH-XGaze files."""
    folder = tmp_path_factory.mktemp("protocol-data")
    for path in (prepared_aflw, prepared_biwi, prepared_300w_lp, prepared_xgaze):
        (folder / path.name).symlink_to(path)
    return folder


def _variant(tmp_path, name: str, **changes) -> str:
    raw = yaml.safe_load((protocols_dir() / f"{name}.yaml").read_text())
    for split, entries in changes.items():
        raw["splits"][split] = entries
    path = tmp_path / f"{name}-variant.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_every_protocol_file_loads_and_is_versioned():
    protocols = list_protocols()
    names = {p.name for p in protocols}
    assert {"p1", "p2", "p3", "biwi-by-person", "300wlp-7030", "xgaze-1subject", "lsp-cpm", "lsp-cpm-200",
            "lsp-half", "mpii-pckh", "synthetic"} <= names
    for protocol in protocols:
        assert protocol.version >= 1 and protocol.changelog and protocol.metrics and protocol.crop
        assert protocol.changelog[-1]["version"] == protocol.version
        assert protocol.path.stem == protocol.name
    assert load_protocol(2).name == "p2"


def test_unknown_and_malformed_protocols(tmp_path):
    with pytest.raises(UnknownName, match="Did you mean 'p3'"):
        load_protocol("p33")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nversion: 1\ntask: headpose\ncrop: kd\nmetrics: [mae]\nsplits: {}\nfliter: {}\n")
    with pytest.raises(HpbenchError, match="unknown key 'fliter'; did you mean 'filter'"):
        load_protocol(bad)


def _expected_p2_test(data: HPFile, count: int) -> set:
    """Protocol 2's test faces, worked out from the keys alone."""
    faces = {}
    for key in data.keys:
        path, face = key.split("#")
        faces.setdefault(path.split("/")[-1], []).append((int(face), key))
    jpgs = sorted(name for name in faces if name.endswith(".jpg"))[:count]
    return {min(faces[name])[1] for name in jpgs}


def test_p2_first_jpg_images_lowest_face_id(data_dir, tmp_path):
    data = HPFile(data_dir / "aflw.h5")
    count = 12
    variant = _variant(tmp_path, "p2",
                       train=[{"dataset": "aflw", "select": {"rule": "aflw_first_jpg", "count": count, "part": "train"}}],
                       test=[{"dataset": "aflw", "select": {"rule": "aflw_first_jpg", "count": count, "part": "test"}}])
    protocol = load_protocol(variant)
    (test,), (train,) = select(protocol, "test", data_dir), select(protocol, "train", data_dir)
    expected = _expected_p2_test(data, count)
    inside = inside_range(data.ypr)
    expected_inside = {k for k in expected if inside[list(data.keys).index(k)]}
    assert set(data.keys[test.indices]) == expected_inside
    assert test.counts == {"in file": len(data), "selected": count, "inside ±99°": len(expected_inside)}
    assert train.counts["selected"] == len(data) - count
    assert not set(test.indices) & set(train.indices)
    assert not any(".png" in k for k in data.keys[test.indices])
    several = [k for k in expected if sum(x.startswith(k.split("#")[0] + "#") for x in data.keys) > 1]
    assert several  # a multi-face image among the first ones gives exactly one test face
    pngs_among_first = sorted({k.split("#")[0].split("/")[-1] for k in data.keys})[:count]
    assert any(name.endswith(".png") for name in pngs_among_first)  # the .png rule matters here


def test_p3_by_sequence_and_the_person_split(data_dir):
    (test,) = select(load_protocol("p3"), "test", data_dir)
    (train,) = select(load_protocol("p3"), "train", data_dir)
    data = HPFile(data_dir / "biwi.h5")
    assert set(data.meta("sequence")[test.indices]) == {6, 7, 10, 13, 15, 18, 21, 22}
    assert test.counts["selected"] == 8 * 3 and train.counts["selected"] == 16 * 3
    people = data.meta("person")
    assert set(people[test.indices]) & set(people[train.indices])  # protocol 3 leaks people
    (by_person_test,) = select(load_protocol("biwi-by-person"), "test", data_dir)
    (by_person_train,) = select(load_protocol("biwi-by-person"), "train", data_dir)
    assert not set(people[by_person_test.indices]) & set(people[by_person_train.indices])
    assert len(by_person_test.indices) + len(by_person_train.indices) == len(data)


def test_300w_lp_7030_keeps_each_identity_on_one_side(data_dir):
    protocol = load_protocol("300wlp-7030")
    (train,), (validation,) = select(protocol, "train", data_dir), select(protocol, "validation", data_dir)
    identities = HPFile(data_dir / "300w_lp.h5").meta("identity")
    train_ids, validation_ids = set(identities[train.indices]), set(identities[validation.indices])
    assert not train_ids & validation_ids
    assert (len(train_ids), len(validation_ids)) == (4, 2)  # round(0.7 · 6)
    assert train.counts["selected"] + validation.counts["selected"] == len(identities)


def test_xgaze_subject_protocol(data_dir):
    (train,) = select(load_protocol("xgaze-1subject"), "train", data_dir)
    subjects = HPFile(data_dir / "xgaze.h5").meta("subject")
    assert set(subjects[train.indices]) == {0}  # the lowest-numbered training subject (1 is a test subject)
    (test,) = select(load_protocol("xgaze-1subject"), "test", data_dir)
    assert test.counts["selected"] == 0  # the synthetic sample has no subjects 108, 109, 111


def test_key_hashes_freeze_a_split(data_dir):
    (a,), (b,) = select(load_protocol("p3"), "test", data_dir), select(load_protocol("p3"), "test", data_dir)
    data = HPFile(data_dir / "biwi.h5")
    assert a.keys_sha256 == b.keys_sha256 == keys_sha256(reversed(list(data.keys[a.indices])))


def test_protocols_cli(data_dir, capsys):
    code, out, _ = run_cli(capsys, "protocols", "list")
    assert code == 0 and "p1" in out and "biwi-by-person" in out
    code, out, _ = run_cli(capsys, "protocols", "show", "p3", "--data", data_dir)
    assert code == 0 and "in file 72 → selected 24 → inside ±99° 24" in out and "5,065" in out
    code, out, err = run_cli(capsys, "protocols", "show", "p1", "--data", data_dir)  # what is prepared, and what not
    assert code == 0 and "not available:" in out and "aflw2000.h5 is missing: run `hpbench prepare aflw2000" in out
    assert "biwi" in out and "in file 72" in out


@pytest.mark.parametrize("change, words", [
    ({"splits": {"test": [{"dataset": "aflw2000", "selct": "all", "boxes": "landmarks"}]}},
     "unknown key 'selct'; did you mean 'select'?"),
    ({"splits": {"tset": [{"dataset": "aflw2000", "boxes": "landmarks"}]}}, "unknown key 'tset'; did you mean 'test'?"),
    ({"splits": {"test": [{"dataset": "aflw2000", "select": {"rule": "index_range", "colum": "x", "first": 0,
                                                              "last": 1}}]}}, "unknown key 'colum'; did you mean 'column'?"),
    ({"splits": {"test": [{"dataset": "aflw2000", "file": "../other/aflw2000.h5"}]}}, "climbs out"),
    ({"splits": {"test": [{"dataset": "aflw200", "boxes": "landmarks"}]}}, "Did you mean 'aflw2000'"),
    ({"metrics": ["mae", "pck@0.2"]}, "metric 'pck@0.2' scores bodypose, not headpose"),
    ({"metrics": ["mea"]}, "unknown metric 'mea'"),
    ({"missing_face": "drop"}, "missing_face 'drop': for headpose, one of fallback, refuse"),
    ({"crop": "kd2"}, "unknown crop rule 'kd2'"),
])
def test_a_protocol_that_names_what_does_not_exist_fails_on_load(tmp_path, change, words):
    raw = {"name": "bad", "version": 1, "task": "headpose", "crop": "kd", "metrics": ["mae"],
           "splits": {"test": [{"dataset": "aflw2000", "boxes": "landmarks"}]}, **change}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(HpbenchError, match=re.escape(words)):
        load_protocol(path)


def test_the_protocol_file_documented_in_docs_loads(tmp_path):
    text = (Path(__file__).parents[1] / "docs" / "PROTOCOLS.md").read_text()
    (tmp_path / "mine.yaml").write_text(text.split("```yaml\n")[1].split("```")[0])
    protocol = load_protocol(tmp_path / "mine.yaml")
    assert protocol.splits["test"][0].file == "300w_lp-mine.h5" and "300w_lp" in protocol.frozen_keys_sha256


def frozen_list(name: str) -> list[str]:
    """The keys of a frozen list in protocols/keys/ (comment lines start with #)."""
    lines = (protocols_dir() / "keys" / f"{name}.txt").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def test_the_frozen_aflw2000_list_is_the_release_and_p1_unfiltered_freezes_it():
    keys = frozen_list("aflw2000-all")
    assert len(keys) == len(set(keys)) == 2000 and keys == sorted(keys)
    assert all(re.fullmatch(r"image\d{5}\.jpg", key) for key in keys)
    assert keys[0] == "image00002.jpg" and keys[-1] == "image04375.jpg"
    # the real files in ../shared/real-samples (SOURCES.md) are released images
    real = {"image00050", "image00251", "image00475", "image00514", "image00516", "image01322", "image02420",
            "image02616"}
    assert {f"{name}.jpg" for name in real} <= set(keys)
    assert load_protocol("p1-unfiltered").frozen_keys_sha256 == {"aflw2000": keys_sha256(keys)}
