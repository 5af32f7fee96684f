"""Seeded fuzzing of one converter's raw files: byte flips, truncations and zeroed spans.

    python -m tests.fuzz_inputs DATASET RAW_FOLDER WORK_FOLDER FIRST_SEED COUNT [--unjudged]

For each seed, a copy of the raw folder gets one file damaged, then ``hpbench prepare DATASET
--skip-bad`` (for ``wider``: ``hpbench detector prepare-wider``) runs in this process; one JSON line per seed says what happened. If the process dies,
the lines stop: the caller sees the crash. Each line: the file and the damage, the exit code, the
last line of output, whether a traceback escaped, whether the report adds up, whether every stored
image decodes without libjpeg reporting damage, and whether ``verify`` passes on the output.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np

DAMAGED = (".mat", ".jpg", ".png", ".sqlite", ".h5", ".txt", ".json", ".bin", ".cal")


def damage(folder: Path, seed: int) -> str:
    rng = np.random.default_rng(seed)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DAMAGED)
    target = files[int(rng.integers(len(files)))]
    data = bytearray(target.read_bytes())
    kind = ("flip", "truncate", "zero")[seed % 3]
    if kind == "flip":
        for _ in range(int(rng.integers(1, 5))):
            data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
    elif kind == "truncate":
        data = data[: int(rng.integers(len(data)))]
    else:
        start = int(rng.integers(len(data)))
        data[start:start + 64] = bytes(len(data[start:start + 64]))
    target.write_bytes(bytes(data))
    return f"{kind} {target.relative_to(folder)}"


def stored_images_intact(path: Path) -> bool:
    from hpbench.converters.images import check_image_bytes
    from hpbench.errors import BadSourceFile
    from hpbench.format import HPFile

    data = HPFile(path)
    try:
        for index in range(len(data)):
            check_image_bytes(data.encoded_image(index), f"{path}[{index}]")
    except BadSourceFile:
        return False
    return True


def _command(dataset: str, case: Path) -> list[str]:
    if dataset == "wider":  # WIDER FACE → YOLO labels: not a converter, the same rules
        return ["detector", "prepare-wider", "--src", str(case / "raw"), "--out", str(case / "data")]
    return ["prepare", dataset, "--src", str(case / "raw"), "--out", str(case / "data"), "--skip-bad"]


def run(dataset: str, raw: Path, work: Path, seed: int, judged: bool = True) -> dict:
    """Damage, prepare, and (``judged``) check what was stored; unjudged runs keep their folder for a
    judge from another checkout."""
    from hpbench.cli import main

    case = work / f"seed{seed}"
    shutil.copytree(raw, case / "raw")
    what = damage(case / "raw", seed)
    out = io.StringIO()
    escaped = False
    with redirect_stdout(out), redirect_stderr(out):
        try:
            code = main(_command(dataset, case))
        except SystemExit as exit:
            code = exit.code
        except Exception:  # noqa: BLE001
            code, escaped = 1, True
            out.write(traceback.format_exc())
    result = {"seed": seed, "damage": what, "code": code, "traceback": escaped,
              "said": (out.getvalue().strip().splitlines() or [""])[-1][:300]}
    if code == 0 and judged:
        result.update(judge(dataset, case))
    if judged:
        shutil.rmtree(case)
    else:
        result["folder"] = str(case)
    return result


def judge(dataset: str, case: Path) -> dict:
    """What a successful run left: a report that adds up, intact images, a file that verifies."""
    from hpbench.format import validate

    if dataset == "wider":
        return {"adds_up": (case / "data/counts.json").is_file(), "images_intact": True, "verifies": True}
    output = case / "data" / f"{dataset}.h5"
    report = json.loads(output.with_suffix(".prepare.json").read_text())
    lost = sum(entry["samples"] for entry in report["skipped"])
    return {"skipped": len(report["skipped"]), "adds_up": report["written"] + lost == report["found"],
            "images_intact": stored_images_intact(output), "verifies": validate(output).ok}


def main() -> None:
    dataset, raw, work, first, count = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), *map(int, sys.argv[4:6])
    for seed in range(first, first + count):
        print(json.dumps(run(dataset, raw, work, seed, judged="--unjudged" not in sys.argv)), flush=True)


if __name__ == "__main__":
    main()
