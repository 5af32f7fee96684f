"""Hostile and broken inputs through the ``hpbench`` entry point: every case of tests/hostile_cases.py
must end ``clear`` (refused with a message that says what is wrong) or ``ok``, never with a
traceback, a dead process, a silent pass, code run from a file, a file outside the output touched or
a sample lost. benchmarks/hostile_inputs.py runs the same cases against any checkout."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from hpbench.cli import main
from tests.hostile_cases import CASES, RawSamples, classify, run_steps

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> RawSamples:
    return RawSamples(tmp_path_factory.mktemp("hostile-raw"))


def in_process(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        except Exception:  # noqa: BLE001 - what a user would see as a traceback
            code, _ = 1, out.write(traceback.format_exc())
    return code, out.getvalue()


def as_process(argv: list[str]) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "hpbench", *argv], capture_output=True, text=True, env=env,
                          timeout=300)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input(case, raw, tmp_path, private_cache):
    code, output = run_steps(case.build(tmp_path, raw), as_process if case.process else in_process)
    harm = case.check(tmp_path, output) if case.check else None
    outcome = classify(case, code, output, harm)
    assert outcome in ("clear", "ok"), f"{outcome} (exit {code}): {harm or output[-1500:]}"
    if outcome == "clear" and not case.verdict:  # one message, naming what to fix, as the last line
        assert output.strip().splitlines()[-1].startswith("hpbench "), output[-500:]


def test_a_full_disk_leaves_nothing_and_says_so(synth_aflw2000, tmp_path, monkeypatch, capsys):
    from hpbench.format import writer

    def full(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer.Writer, "commit", full)
    code, output = in_process(["prepare", "aflw2000", "--src", str(synth_aflw2000[0]), "--out", str(tmp_path)])
    assert code == 1 and "No space left on device" in output and "disk full" in output
    assert list(tmp_path.iterdir()) == []  # neither the file nor its partial


def test_a_read_only_output_folder_is_refused_before_reading(synth_aflw2000, tmp_path, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == tmp_path else real_access(path, mode))
    code, output = in_process(["prepare", "aflw2000", "--src", str(synth_aflw2000[0]), "--out", str(tmp_path / "d")])
    assert code == 1 and "is not writable" in output.splitlines()[-1]


def test_workers_die_with_their_parent(tmp_path):
    """Killing the main process (SIGKILL, no clean-up) leaves no reading worker behind."""
    script = """
import os, signal, sys, time
from functools import partial
from hpbench.parallel import ordered_map
def slow(_): time.sleep(0.2); return os.getpid()
results = ordered_map(slow, range(1000), workers=2, on_crash=str)
pids = {next(results) for _ in range(6)}
print(" ".join(map(str, pids)), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    (tmp_path / "run.py").write_text(script)
    done = subprocess.run([sys.executable, str(tmp_path / "run.py")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    pids = [int(p) for p in done.stdout.split()]
    assert done.returncode == -9 and pids
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.1)
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def test_the_relabel_journal_drops_a_torn_line_and_restarts_on_other_settings(prepared_aflw2000, tmp_path,
                                                                            private_cache):
    from hpbench.bboxes import relabel as module
    from tests.hostile_cases import WEIGHTS

    data = tmp_path / "data"
    data.mkdir()
    (data / "aflw2000.h5").write_bytes(prepared_aflw2000.read_bytes())
    calls: list[int] = []
    kill_after: list[int | None] = [None]
    original = module.Detector.__call__

    def counted(self, images):
        if len(calls) == kill_after[0]:
            raise KeyboardInterrupt  # the run is killed before this batch
        calls.append(len(images))
        return original(self, images)

    module.Detector.__call__ = counted
    try:
        module.relabel("aflw2000", WEIGHTS, data, tmp_path / "whole", batch_size=8, imgsz=160, progress=False)
        whole = (tmp_path / "whole/aflw2000.yolo.csv").read_text()
        samples = sum(calls)
        kill_after[0], calls[:] = 2, []
        with pytest.raises(KeyboardInterrupt):
            module.relabel("aflw2000", WEIGHTS, data, tmp_path / "boxes", batch_size=8, imgsz=160, progress=False)
        journal = tmp_path / "boxes/aflw2000.yolo.csv.progress"
        lines = journal.read_text().splitlines(keepends=True)
        assert len(lines) == 2 + 16  # the settings, the columns and two batches of rows
        journal.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # the last row torn
        kill_after[0], calls[:] = None, []
        module.relabel("aflw2000", WEIGHTS, data, tmp_path / "boxes", batch_size=8, imgsz=160, progress=False)
        assert sum(calls) == samples - 15  # the torn row is done again, the fifteen whole ones are not
        assert (tmp_path / "boxes/aflw2000.yolo.csv").read_text() == whole
        assert not journal.exists()
        journal.write_text("".join(lines[:-1]))
        calls.clear()
        module.relabel("aflw2000", WEIGHTS, data, tmp_path / "boxes", batch_size=8, imgsz=128, progress=False)
        assert sum(calls) == samples  # another --imgsz: every sample again, nothing mixed
    finally:
        module.Detector.__call__ = original


def test_ultralytics_integrations_are_off(private_cache):
    from hpbench.bboxes.detector import ultralytics

    settings = ultralytics().settings
    assert not any(settings.get(name) for name in ("sync", "clearml", "comet", "dvc", "mlflow", "raytune", "wandb"))
    import ultralytics.nn.tasks as tasks

    assert os.environ["ULTRALYTICS_SAFE_LOAD"] == "1" and tasks.SAFE_LOAD


def test_a_file_is_checked_once_then_known_by_its_stamp(prepared_aflw2000, tmp_path, monkeypatch):
    import importlib

    import h5py

    module = importlib.import_module("hpbench.format.checked")
    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "aflw2000.h5"
    copy.write_bytes(prepared_aflw2000.read_bytes())
    calls = []
    real = module.validate
    monkeypatch.setattr(module, "validate", lambda path: calls.append(path) or real(path))
    digest = module.check_before_use(copy)
    assert module.check_before_use(copy) == digest and len(calls) == 1
    with h5py.File(copy, "r+") as handle:  # a label changed behind hpbench's back: a new stamp, checked again
        handle["pose/ypr"][0] = handle["pose/ypr"][0] + 1.0
    with pytest.raises(Exception, match="fails hpbench's checks|hpbench verify"):
        module.check_before_use(copy)
    assert len(calls) == 2


def test_the_jpeg_frame_header_gives_the_decoded_size(synth_aflw2000, synth_300w_lp, real_samples):
    """check_image_bytes decodes a JPEG at 1/8 scale and takes its size from the frame header."""
    import cv2
    import numpy as np

    from hpbench.format.image_size import jpeg_size

    files = [*synth_aflw2000[0].glob("*.jpg"), *synth_300w_lp[0].rglob("*.jpg"), *real_samples.rglob("*.jpg")]
    assert len(files) > 20
    for path in files:
        data = path.read_bytes()
        assert jpeg_size(data) == cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2], path


def test_trust_checkpoint_is_the_only_way_to_unpickle_detector_weights(raw, tmp_path, private_cache):
    """The same payload that the default refuses runs with --trust-checkpoint (so the flag, and only
    the flag, switches the safe loader off); the file is then refused for not being a model."""
    from tests.hostile_cases import _payload_weights, prepare

    src = raw.copy("aflw2000", tmp_path / "raw")
    weights = _payload_weights(tmp_path / "evil.pt", tmp_path / "PAYLOAD-RAN")
    assert in_process(prepare("aflw2000", src, tmp_path / "data"))[0] == 0
    relabel = ["bboxes", "relabel", "aflw2000", "--data", str(tmp_path / "data"), "--weights", str(weights)]
    code, output = in_process(relabel + ["--out", str(tmp_path / "boxes")])
    assert code == 1 and "--trust-checkpoint" in output and not (tmp_path / "PAYLOAD-RAN").exists()
    code, output = in_process(relabel + ["--out", str(tmp_path / "boxes"), "--trust-checkpoint"])
    assert (tmp_path / "PAYLOAD-RAN").exists() and code == 1 and "cannot be loaded" in output.splitlines()[-1]
    import ultralytics.nn.tasks as tasks

    from hpbench.bboxes.detector import ultralytics

    assert ultralytics() and tasks.SAFE_LOAD  # safe again after the trusted call


def test_two_prepare_runs_into_one_output_leave_one_whole_file(synth_aflw2000, tmp_path):
    """Two real processes into one --out: the second is refused at once naming the first, whose file
    verifies and whose report describes it; nothing partial is left."""
    import time

    from hpbench.format import validate

    out = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = ["prepare", "aflw2000", "--src", str(synth_aflw2000[0]), "--out", str(out)]
    slow = ("import sys, time\nfrom hpbench.format import writer\nappend = writer.Writer.append_row\n"
            "writer.Writer.append_row = lambda self, row: (time.sleep(0.05), append(self, row))[1]\n"
            "from hpbench.cli import main\nsys.exit(main(sys.argv[1:]))\n")  # a writer that takes its time
    first = subprocess.Popen([sys.executable, "-c", slow, *command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env=env)
    deadline = time.monotonic() + 60
    while not (out / "aflw2000.h5.lock").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    second = subprocess.run([sys.executable, "-m", "hpbench", *command], capture_output=True, text=True, env=env,
                            timeout=120)
    first_output = first.communicate(timeout=300)[0]
    if first.returncode == 0 and second.returncode == 0:
        pytest.fail("both runs wrote the same output")
    assert first.returncode == 0, first_output
    assert second.returncode == 1 and "is being written by another run: process" in second.stderr, second.stderr
    assert f"process {first.pid} " in second.stderr
    assert validate(out / "aflw2000.h5").ok and sorted(p.name for p in out.iterdir()) == [
        "aflw2000.h5", "aflw2000.prepare.json"]
    report = json.loads((out / "aflw2000.prepare.json").read_text())
    assert report["written"] == len(list(synth_aflw2000[0].glob("*.jpg")))


def test_output_locks_exclude_each_other_and_clean_up(tmp_path):
    from hpbench.errors import HpbenchError
    from hpbench.io import partial_path
    from hpbench.locks import output_lock

    target = tmp_path / "new/deeper/file.h5"
    with output_lock(target) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        with pytest.raises(HpbenchError, match=f"process {os.getpid()} on"):
            with output_lock(target):
                pass
    assert not (tmp_path / "new").exists()  # the folders made for the lock went with it
    assert partial_path(target) != partial_path(target)  # two writers never share a partial file


def _small_file_system(tmp_path, size: str) -> Path:
    """A tmpfs of ``size`` mounted for the test (root only); skipped where this machine does not allow it."""
    folder = tmp_path / "small"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"a full disk needs a small file system, and this machine cannot mount one: {done.stderr.strip()}")
    return folder


def test_prepare_on_a_really_full_disk_stops_cleanly(tmp_path):
    """A real 4 MiB file system and 5 MB of images: one line, exit 1, no crash, nothing left behind
    (HDF5 meeting the full disk itself segfaulted: exit -11)."""
    from hpbench.synth.writers import write_sample

    small = _small_file_system(tmp_path, "4m")
    try:
        write_sample("aflw2000", tmp_path / "raw", 80, seed=3)
        done = subprocess.run([sys.executable, "-m", "hpbench", "prepare", "aflw2000", "--src", str(tmp_path / "raw"),
                               "--out", str(small / "data")], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert "the disk is full or nearly so" in done.stderr.strip().splitlines()[-1]
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


def test_a_file_changed_while_it_is_read_voids_the_run(prepared_aflw2000, tmp_path, monkeypatch):
    """check_unchanged after use: a write between the check and the end of the run (which sets the
    change time, whatever the modification time says) is an error; an untouched file passes."""
    from hpbench.format import check_before_use, check_unchanged
    from hpbench.format.layout import FormatError

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "aflw2000.h5"
    copy.write_bytes(prepared_aflw2000.read_bytes())
    check_before_use(copy)
    check_unchanged(copy)
    stat = copy.stat()
    with open(copy, "r+b") as handle:  # the same bytes written back: only the stamp tells
        handle.write(handle.read(8))
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(FormatError, match="changed while hpbench was reading it"):
        check_unchanged(copy)
    key = tmp_path / "cache/verified.key"
    assert key.stat().st_mode & 0o777 == 0o600
