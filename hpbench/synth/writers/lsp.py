"""Synthetic LSP and LSP-extended in their release layouts.

    LSP:    OUT/joints.mat ('joints' (3, 14, N) float64: x, y, flag with 1 = OCCLUDED)
            OUT/images/im0001.jpg … imNNNN.jpg
    LSPET:  OUT/joints.mat ('joints' (14, 3, N) float64: x, y, flag with 1 = visible)
            OUT/images/im00001.jpg … imNNNNN.jpg

One figure per image. LSP gives positions for hidden joints too. LSPET does not annotate a hidden
joint: as in the release (all 16,787 flag-0 joints of its joints.mat), one coordinate is 0 and the
other negative, and the truth is NaN. In LSPET about one image in six shows its figure partly outside
the frame, so those joints are hidden.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from hpbench.parallel import ordered_map
from hpbench.skeletons import LSP_FROM_MPII
from hpbench.synth.body import render_people
from hpbench.synth.writers import TruthRecord, register_writer, sample_rng
from hpbench.synth.writers.ddfa import write_jpeg


def _render(task: tuple[Path, int, int, str, int, float, bool]):
    """Render one image; return the joints as the file writes them, the true joints and visibility."""
    out, seed, index, name, size, out_of_frame_share, hidden_unannotated = task
    rng = sample_rng(seed, index)
    width, height = int(size * rng.uniform(0.6, 1.0)), size
    image, (labels,) = render_people(rng, height, width)
    joints, visible = labels.joints[list(LSP_FROM_MPII)], labels.visible[list(LSP_FROM_MPII)]
    if rng.uniform() < out_of_frame_share:  # the figure partly leaves the frame
        shift = np.array([-0.45 * width, 0.0])
        image = np.roll(image, int(shift[0]), axis=1)
        joints = joints + shift
        visible = visible & (joints[:, 0] >= 0)
    write_jpeg(out / "images" / name, image)
    written = joints.copy()
    if hidden_unannotated:  # LSPET: a hidden joint is not annotated, written (0, −v) or (−v, 0)
        hidden = np.flatnonzero(~visible)
        written[hidden] = 0.0
        written[hidden, rng.integers(0, 2, len(hidden))] = -rng.uniform(1, 300, len(hidden))
        joints = np.where(visible[:, None], joints, np.nan)
    return written, joints, visible


def _write(out: Path, n: int, seed: int, size: int, workers: int, progress, digits: int, flag_is_occluded: bool):
    (out / "images").mkdir(parents=True)
    names = [f"im{i:0{digits}d}.jpg" for i in range(1, n + 1)]
    out_of_frame = 0.0 if flag_is_occluded else 1 / 6
    tasks = [(out, seed, i, name, size, out_of_frame, not flag_is_occluded) for i, name in enumerate(names)]
    written, joints, visible = [], [], []
    for as_written, xy, seen in ordered_map(_render, tasks, workers=workers):
        written.append(as_written)
        joints.append(xy)
        visible.append(seen)
        if progress is not None:
            progress(1)
    written, joints, visible = np.array(written), np.array(joints), np.array(visible)
    flag = (~visible if flag_is_occluded else visible).astype(np.float64)
    table = np.concatenate([written, flag[..., None]], axis=2)  # (N, 14, 3)
    layout = table.transpose(2, 1, 0) if flag_is_occluded else table.transpose(1, 2, 0)
    scipy.io.savemat(out / "joints.mat", {"joints": layout}, format="5")
    split = ["train" if i < 1000 or not flag_is_occluded else "test" for i in range(n)]  # LSP: 1–1000 train
    return [TruthRecord(key=f"{name}#1", meta={"native_split": split[i], "image_index": i + 1},
                        joints=joints[i], visible=visible[i]) for i, name in enumerate(names)]


@register_writer("lsp")
def write_lsp(out: Path, n: int, seed: int = 0, size: int = 250, workers: int = 1, progress=None):
    """``n`` LSP images (images 1–1000 are LSP's train split, the rest its test split)."""
    return _write(out, n, seed, size, workers, progress, digits=4, flag_is_occluded=True)


@register_writer("lspet")
def write_lspet(out: Path, n: int, seed: int = 0, size: int = 200, workers: int = 1, progress=None):
    """``n`` LSP-extended images (all training images)."""
    return _write(out, n, seed, size, workers, progress, digits=5, flag_is_occluded=False)
