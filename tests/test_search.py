"""The head search (hpbench.search): genome decoding, head costs, fitness, the feature cache, the log
and its resume, every optimiser end to end, and the winner evaluated like any model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hpbench.converters.prepare import prepare
from hpbench.format import HPFile
from hpbench.models.loading import load_model
from hpbench.search.genome import BLOCK_TYPES, GENOME_LENGTH, decode, interval_index
from hpbench.search.heads import SearchedHead, head_cost
from hpbench.search.objective import fitness
from hpbench.synth.writers import write_sample
from tests.conftest import run_cli


def test_interval_mapping_on_the_edges():
    assert [interval_index(v, 4) for v in (0.0, 0.2499999, 0.25, 0.5, 0.75, 0.9999, 1.0)] == [0, 0, 1, 2, 3, 3, 3]
    assert [interval_index(v, 3) for v in (1 / 3 - 1e-12, 1 / 3, 2 / 3, 1.0)] == [0, 1, 2, 2]
    assert interval_index(-0.7, 4) == 0 and interval_index(3.2, 4) == 3  # an optimiser's step past a bound


def test_the_corner_genomes_decode_exactly():
    low, high = decode(np.zeros(GENOME_LENGTH)), decode(np.ones(GENOME_LENGTH))
    assert low.width_multiplier == 1 and low.stem_channels == 8
    assert [(b.kind, b.kernel, b.stride, b.channels) for b in low.blocks] == [
        ("residual", 1, 2, 16), ("residual", 1, 1, 16), ("residual", 1, 1, 16),
        ("residual", 1, 2, 32), ("residual", 1, 1, 32), ("residual", 1, 1, 32)]
    assert high.width_multiplier == 8 and high.stem_channels == 23  # round(8 · √8) = round(22.63)
    assert {b.kind for b in high.blocks} == {"depthwise_separable"} and {b.kernel for b in high.blocks} == {5}
    assert [decode(np.r_[np.zeros(12), w]).stem_channels for w in (0.3, 0.6)] == [11, 16]  # √2 and √4 widths
    with pytest.raises(ValueError, match="NaN"):
        decode(np.full(GENOME_LENGTH, np.nan))


def test_every_genome_decodes_to_a_buildable_head():
    """Property test: random points (and points past the bounds) decode, deterministically, to heads
    that take any feature map of at least 1 × 1 pixel."""
    rng = np.random.default_rng(0)
    seen = set()
    for genome in [*rng.uniform(-0.2, 1.2, size=(60, GENOME_LENGTH)), *np.eye(GENOME_LENGTH)]:
        architecture = decode(genome)
        assert architecture == decode(genome.copy())
        seen.update(b.kind for b in architecture.blocks)
        head = SearchedHead(architecture, 12).eval()
        for side in (1, 3, 8):
            assert head(torch.zeros(2, 12, side, side)).shape == (2, 3)
    assert seen == set(BLOCK_TYPES)


def test_head_flops_are_two_per_multiply_add_of_the_convolutions_and_dense_layers():
    """The all-zeros genome (residual blocks of 1×1 kernels, width 1) on 16 × 8 × 8 features, counted by hand."""
    head = SearchedHead(decode(np.zeros(GENOME_LENGTH)), 16)
    stem = 8 * 8 * 16 * 8
    block1 = 4 * 4 * 8 * 16 + 4 * 4 * 16 * 16 + 4 * 4 * 8 * 16  # two convolutions and the strided projection
    blocks23 = 2 * (2 * 4 * 4 * 16 * 16)
    block4 = 2 * 2 * 16 * 32 + 2 * 2 * 32 * 32 + 2 * 2 * 16 * 32
    blocks56 = 2 * (2 * 2 * 2 * 32 * 32)
    dense = 32 * 128 + 128 * 3
    cost = head_cost(head, (16, 8, 8))
    assert cost["mflops"] == pytest.approx(2 * (stem + block1 + blocks23 + block4 + blocks56 + dense) / 1e6, abs=1e-12)
    assert cost["params"] == sum(p.numel() for p in head.parameters())
    floats = cost["params"] + sum(b.numel() for b in head.buffers() if b.dtype.is_floating_point)
    assert cost["memory_mb"] == pytest.approx(floats * 4 / 2**20)


def test_fitness_rules():
    assert fitness(5.0, 10.0, {"name": "thesis"}) == 5.0
    assert fitness(5.0, 20.0, {"name": "thesis"}) == pytest.approx(5.0 * 2 ** 0.06)
    rule = {"name": "penalty", "limit_mflops": 4.0, "weight": 2.0}
    assert fitness(5.0, 3.0, rule) == 5.0 and fitness(5.0, 6.0, rule) == pytest.approx(5.0 + 2.0 * 2.0 / 4.0)


@pytest.fixture(scope="module")
def search_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search-data")
    write_sample("300w_lp", folder / "raw-300w_lp", 160, seed=21, size=96)
    write_sample("aflw2000", folder / "raw-aflw2000", 30, seed=22, size=96)
    for dataset in ("300w_lp", "aflw2000"):
        prepare(dataset, folder / f"raw-{dataset}", folder / "data", progress=False)
    return folder / "data"


QUICK = ("--set", "candidate.epochs=1", "--set", "candidate.batch_size=16", "--retrain-epochs", "0")


def _search(capsys, data, out, *options):
    return run_cli(capsys, "search", "head-search-synthetic", "--protocol", "synthetic-7030", "--data", data,
                   "--out", out, *QUICK, *options)


def test_features_are_computed_once_and_reused(search_data, tmp_path, capsys, monkeypatch):
    decodes = []
    original = HPFile.image
    monkeypatch.setattr(HPFile, "image", lambda self, i: decodes.append((self.path.name, i)) or original(self, i))
    code, _, err = _search(capsys, search_data, tmp_path / "first", "--optimizer", "random", "--budget", "3",
                           "--workers", "0")
    assert code == 0, err
    summary = json.loads((tmp_path / "first" / "search.json").read_text())
    samples = sum(1 for _ in open(tmp_path / "first" / "random.jsonl"))
    assert summary["evaluations"] == samples == 3 and summary["trained"] >= 2
    # one decode per training and validation sample for three candidates: the second and third read none
    selected = sum(summary["backbone"]["counts"].values())
    assert len(decodes) == len(set(decodes)) == selected
    decodes.clear()
    code, _, err = _search(capsys, search_data, tmp_path / "second", "--optimizer", "random", "--budget", "2",
                           "--workers", "0")
    assert code == 0, err
    assert decodes == []  # another run on the same backbone, protocol and data: the cached features


def test_an_interrupted_search_resumes_from_its_log(search_data, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _search(capsys, search_data, out, "--optimizer", "cmaes", "--budget", "3")
    assert code == 0, err
    first = [json.loads(line) for line in (out / "cmaes.jsonl").read_text().splitlines()]
    with open(out / "cmaes.jsonl", "a") as handle:
        handle.write('{"genome": [0.1, ')  # a run killed while writing its fourth line
    code, text, err = _search(capsys, search_data, out, "--optimizer", "cmaes", "--budget", "5")
    assert code == 0, err
    assert "3 evaluations logged; replaying them" in text
    entries = [json.loads(line) for line in (out / "cmaes.jsonl").read_text().splitlines()]
    assert entries[:3] == first and [e["evaluation"] for e in entries] == [1, 2, 3, 4, 5]
    assert "evaluation 4/5" in text and "evaluation 1/5" not in text  # only the new ones are trained
    code, _, err = _search(capsys, search_data, out, "--optimizer", "cmaes", "--budget", "5", "--set", "seed=7")
    assert code == 1 and "another genome than this run proposes" in err


@pytest.mark.parametrize("optimizer", ["random", "cmaes", "ga", "pso", "cobyqa"])
def test_each_optimizer_runs_end_to_end(search_data, tmp_path, capsys, optimizer):
    code, out, err = _search(capsys, search_data, tmp_path, "--optimizer", optimizer, "--budget", "3")
    assert code == 0, err
    entries = [json.loads(line) for line in (tmp_path / f"{optimizer}.jsonl").read_text().splitlines()]
    assert len(entries) == 3
    for entry in entries:
        assert set(entry) >= {"genome", "architecture", "params", "mflops", "memory_mb", "val_mae", "fitness", "seconds"}
        assert decode(entry["genome"]).key() == entry["key"] and 0 <= min(entry["genome"]) <= max(entry["genome"]) <= 1
    assert (tmp_path / "convergence.png").stat().st_size > 0 and (tmp_path / "pareto.png").stat().st_size > 0


def test_bobyqa_says_what_to_use_instead(search_data, tmp_path, capsys):
    code, _, err = _search(capsys, search_data, tmp_path, "--optimizer", "bobyqa", "--budget", "2")
    assert code == 1 and "cobyqa" in err and "GPL" in err


def test_a_recipe_typo_is_an_error(search_data, tmp_path, capsys):
    code, _, err = _search(capsys, search_data, tmp_path, "--budget", "2", "--set", "candidate.epoch=2")
    assert code == 1 and "did you mean 'epochs'" in err


def test_the_winner_is_a_model_like_any_other(search_data, tmp_path, capsys):
    code, out, err = run_cli(capsys, "search", "head-search-synthetic", "--protocol", "synthetic-7030", "--data",
                             search_data, "--out", tmp_path, "--optimizer", "random", "--budget", "2",
                             "--set", "candidate.epochs=1", "--set", "candidate.batch_size=16", "--retrain-epochs", "2")
    assert code == 0, err
    winner = tmp_path / "winner" / "model.pt"
    model = load_model(winner)
    summary = json.loads((tmp_path / "search.json").read_text())
    assert model.arch == "searched.head" and model.config["genome"] == summary["best"]["genome"]
    record = json.loads((tmp_path / "winner" / "result.json").read_text())
    assert record["results"]["aflw2000"]["metrics"]["mae"] == summary["winner"]["test"]["aflw2000"]
    code, text, err = run_cli(capsys, "evaluate", winner, "--protocol", "synthetic-7030", "--data", search_data)
    assert code == 0, err
    assert f"{record['results']['aflw2000']['metrics']['mae']:.2f}" in text  # the same number, evaluated again


def test_the_searched_model_keeps_only_the_backbone_it_computes_with():
    from hpbench.models import create_model
    from hpbench.search.features import TrunkCut

    torch.manual_seed(0)
    full = create_model("hopenet.resnet18", input_size=64)
    model = create_model("searched.head", backbone={"arch": "hopenet.resnet18"}, layer="backbone.model.layer2",
                         genome=[0.5] * 13, in_channels=128, input_size=64)
    resnet = model.backbone.backbone.model
    assert isinstance(resnet.layer3, torch.nn.Identity) and isinstance(resnet.layer4, torch.nn.Identity)
    assert isinstance(model.backbone.head, torch.nn.Identity)  # HopeNet's angle bins
    kept = ("conv1", "bn1", "layer1", "layer2")
    expected = sum(p.numel() for name in kept for p in getattr(full.backbone.model, name).parameters())
    expected += sum(p.numel() for p in model.head.parameters())
    assert sum(p.numel() for p in model.parameters()) == expected  # 0.68 M, not the whole ResNet-18's 11.4 M
    model.backbone.load_state_dict(full.state_dict(), strict=False)
    images = torch.randn(2, 3, 64, 64)
    full.eval(), model.eval()
    assert torch.equal(model.trunk(images), TrunkCut(full, "backbone.model.layer2")(images))
