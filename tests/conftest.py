"""Shared fixtures: synthetic raw samples, their prepared files, and the real-sample folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hpbench.cli import main
from hpbench.synth.writers import write_sample

ROOT = Path(__file__).resolve().parents[1]


def real_samples_dir() -> Path:
    return Path(os.environ.get("HPBENCH_REAL_SAMPLES", ROOT.parent / "shared" / "real-samples"))


@pytest.fixture(scope="session")
def real_samples() -> Path:
    folder = real_samples_dir()
    if not folder.is_dir():
        pytest.skip(f"real dataset samples not found at {folder} (set HPBENCH_REAL_SAMPLES)")
    return folder


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the ``hpbench`` entry point in-process; returns (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="session")
def synth_300w_lp(tmp_path_factory):
    """(raw folder, truth records) of 60 synthetic 300W-LP images: 6 faces × 5 views × flip."""
    out = tmp_path_factory.mktemp("raw") / "300w_lp"
    return out, write_sample("300w_lp", out, 60, seed=3, size=160)


@pytest.fixture(scope="session")
def synth_aflw2000(tmp_path_factory):
    """(raw folder, truth records) of 120 synthetic AFLW2000 images."""
    out = tmp_path_factory.mktemp("raw") / "aflw2000"
    return out, write_sample("aflw2000", out, 120, seed=5, size=200)


@pytest.fixture(scope="session")
def prepared_aflw2000(synth_aflw2000, tmp_path_factory) -> Path:
    from hpbench.datasets.prepare import prepare

    out = tmp_path_factory.mktemp("data")
    prepare("aflw2000", synth_aflw2000[0], out, progress=False)
    return out / "aflw2000.h5"


@pytest.fixture(scope="session")
def synth_aflw(tmp_path_factory):
    """(raw folder, truth records) of 70 synthetic AFLW images (about 85 faces)."""
    out = tmp_path_factory.mktemp("raw") / "aflw"
    return out, write_sample("aflw", out, 70, seed=2, size=200)


@pytest.fixture(scope="session")
def synth_biwi(tmp_path_factory):
    """(raw folder, truth records) of 72 synthetic BIWI frames, 3 per sequence."""
    out = tmp_path_factory.mktemp("raw") / "hpdb"
    return out, write_sample("biwi", out, 72, seed=4)


@pytest.fixture(scope="session")
def synth_xgaze(tmp_path_factory):
    """(raw folder, truth records) of 90 synthetic ETH-XGaze patches (3 subjects, one a test subject)."""
    out = tmp_path_factory.mktemp("raw") / "xgaze"
    return out, write_sample("xgaze", out, 90, seed=6, size=112)


def prepared(tmp_path_factory, dataset: str, src, **options) -> Path:
    from hpbench.datasets.prepare import prepare

    out = tmp_path_factory.mktemp("data")
    prepare(dataset, src, out, progress=False, **options)
    return out / f"{dataset}.h5"


@pytest.fixture(scope="session")
def synth_lsp(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw") / "lsp"
    return out, write_sample("lsp", out, 30, seed=8, size=160)


@pytest.fixture(scope="session")
def synth_lspet(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw") / "lspet"
    return out, write_sample("lspet", out, 30, seed=9, size=160)


@pytest.fixture(scope="session")
def synth_mpii(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw") / "mpii"
    return out, write_sample("mpii", out, 40, seed=10, size=160)


@pytest.fixture(scope="session")
def seeds() -> Path:
    folder = Path(os.environ.get("HPBENCH_SEEDS", ROOT.parent / "shared" / "seeds"))
    if not folder.is_dir():
        pytest.skip(f"the seed documents are not at {folder} (set HPBENCH_SEEDS)")
    return folder
