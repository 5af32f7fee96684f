"""TorchScript read as the program it is (hpbench.models.torchscript): hpbench's own exports of every
registered family load untrusted and predict what the module does; what is not a pure tensor
operation, code that runs while loading, and a forward that never returns are stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from hpbench.errors import HpbenchError
from hpbench.models import create_model
from hpbench.models.loading import load_model
from hpbench.models.torchscript import PURE_OPS, Predicting, archive_problem, save_torchscript
from tests.conftest import one_per_family

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("arch", one_per_family())
def test_every_family_exported_by_hpbench_runs_untrusted(arch, tmp_path):
    model = create_model(arch).eval()
    size = 64
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    save_torchscript(Predicting(model), tmp_path / "model.pt", images)  # CPM's trace keeps its batch size
    loaded = load_model(tmp_path / "model.pt")  # untrusted: the graph check and the watchdog apply
    with torch.inference_mode():
        assert torch.allclose(loaded.predict(images), model.predict(images), atol=1e-5)


def test_an_op_outside_the_allow_list_is_named(tmp_path):
    class Prints(torch.nn.Module):
        def forward(self, x):
            print("hello")
            return x.mean((2, 3))

    assert "prim::Print" not in PURE_OPS
    torch.jit.save(torch.jit.script(Prints()), str(tmp_path / "prints.pt"))
    with pytest.raises(HpbenchError, match=r"prim::Print \(not a pure tensor operation"):
        load_model(tmp_path / "prints.pt")
    assert load_model(tmp_path / "prints.pt", trust=True).kind == "torchscript"  # the flag, and only it


def test_an_archive_with_two_entries_of_one_name_is_refused(tmp_path):
    save_torchscript(torch.nn.Flatten(), tmp_path / "plain.pt", torch.zeros(1, 3))
    with zipfile.ZipFile(tmp_path / "plain.pt") as plain, zipfile.ZipFile(tmp_path / "twice.pt", "w") as twice:
        for info in plain.infolist():
            twice.writestr(info, plain.read(info.filename))
        twice.writestr(plain.infolist()[0], b"another")
    assert "share a name" in archive_problem(tmp_path / "twice.pt")


def test_a_forward_that_never_returns_ends_the_process_with_one_line(tmp_path):
    script = ("import time\nfrom pathlib import Path\nfrom hpbench.models.torchscript import watched\n"
              "watched(lambda images: time.sleep(60), Path('slow.pt'), seconds=0.5)(None)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 3 and "slow.pt: one forward pass ran for more than 0.5 s" in done.stderr
    assert done.stderr.strip().count("\n") == 0
