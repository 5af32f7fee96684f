"""The body-pose torch Dataset: person-centred square crops, the joints moved with them, CPM's targets.

Crop rule ``square`` (every body-pose protocol): the square of side 200 × scale pixels (MPII's unit of
person scale) centred on the person centre, resized to the input size, with per dataset
(``PERSON_CROPS``): LSP and LSPET give no centre, so the converter's is the middle of the joints' box
and its scale 1.25 × the box's longer side (hpbench.converters.bodies.person_from_joints), used as
they are; MPII's ``objpos`` and ``scale`` are moved and grown as the MPII code of the field does
(centre 15 × scale px lower, scale × 1.25: bearpaw/pytorch-pose pose/datasets/mpii.py and HRNet's
lib/dataset/mpii.py, "to avoid cropping limbs"). One 3 × 3
matrix maps original pixels (pixel centres at integers) to crop pixels; the crop is
``cv2.warpAffine`` through it (bilinear, grey 128 outside the image as the CPM release pads), the
joints go through the same matrix, and predictions come back through its inverse.

Augmentation (training, ``BodyAugmentation``): a zoom, a rotation and a mirror about the crop's centre,
composed into the same matrix, so image and joints move exactly together; a mirror swaps each
``left_*`` joint with its ``right_*`` one. Drawn from a generator seeded by (seed, epoch, index).

Targets (CPM, ``heatmaps``): per joint a Gaussian of σ grid cells at the joint / stride (cell j is
crop pixel stride · j, the CPM release's convention), values under 0.0099 set to 0 as the release
does, and a last background map, 1 − the maximum of the joint maps. σ is 3 cells on the 46-cell
grid of 368-px crops and scales with the grid for other sizes (``grid_sigma``). A joint without coordinates has
an empty map. The release truncates joints to whole pixels first; hpbench does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from hpbench.data.transforms import Preprocessing
from hpbench.format import HPFile
from hpbench.format.layout import PERSON_BOX_PX

SQUARE_SIDE = PERSON_BOX_PX  # pixels per unit of person scale (MPII's unit)
PERSON_CROPS = {"mpii": (1.25, 15.0)}  # dataset → (scale factor, centre moved down by this × scale px)
HEATMAP_FLOOR = 0.0099  # the CPM release zeroes smaller target values
PAD_VALUE = (128, 128, 128)


def crop_matrix(centre, scale: float, size: int) -> np.ndarray:
    """Original pixels → crop pixels: the person centre to the crop's centre ((size − 1) / 2), a square
    of 200 · scale pixels to ``size``."""
    s = size / (SQUARE_SIDE * float(scale))
    middle = (size - 1) / 2
    return np.array([[s, 0.0, middle - s * float(centre[0])], [0.0, s, middle - s * float(centre[1])], [0, 0, 1]])


def augmentation_matrix(size: int, zoom: float = 1.0, degrees: float = 0.0, mirror: bool = False) -> np.ndarray:
    """Crop pixels → augmented crop pixels: zoom, then rotate (counter-clockwise on screen for positive
    degrees), then mirror, all about the crop's centre."""
    middle = (size - 1) / 2
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]) * zoom
    if mirror:
        rotation = np.diag([-1.0, 1.0]) @ rotation
    matrix = np.eye(3)
    matrix[:2, :2] = rotation
    matrix[:2, 2] = middle - rotation @ np.array([middle, middle])
    return matrix


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(…, 2) points through a 3 × 3 affine matrix; NaN stays NaN."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def mirror_pairs(joint_names: Sequence[str]) -> np.ndarray:
    """The permutation a mirror applies to the joint order: each ``left_X`` and ``right_X`` swap."""
    order = np.arange(len(joint_names))
    index = {name: i for i, name in enumerate(joint_names)}
    for name, i in index.items():
        if name.startswith("left_") and f"right_{name[5:]}" in index:
            j = index[f"right_{name[5:]}"]
            order[i], order[j] = j, i
    return order


@dataclass(frozen=True)
class BodyAugmentation:
    """Zoom drawn from ``zoom`` (low, high), rotation uniform in ±``rotate`` degrees (the report: ≤ 40),
    mirror with probability ``flip``."""

    zoom: tuple[float, float] = (0.7, 1.3)
    rotate: float = 40.0
    flip: float = 0.5

    def draw(self, rng: np.random.Generator) -> tuple[float, float, bool]:
        return float(rng.uniform(*self.zoom)), float(rng.uniform(-self.rotate, self.rotate)), bool(rng.random() < self.flip)


REFERENCE_CELLS = 46  # the grid the report's σ values are given on (368-px crops)


def grid_sigma(sigma: float, cells: int) -> float:
    """A σ given on the report's 46-cell grid, for a grid of ``cells`` (the same share of the crop)."""
    return sigma * cells / REFERENCE_CELLS


def gaussian_map(cells: int, x: float, y: float, sigma: float) -> np.ndarray:
    """exp(−d² / 2σ²) on a cells × cells grid around (x, y) in cells, values under 0.0099 set to 0."""
    grid = np.arange(cells, dtype=np.float64)
    gaussian = np.exp(-((grid[None, :] - x) ** 2 + (grid[:, None] - y) ** 2) / (2 * sigma ** 2))
    return np.where(gaussian < HEATMAP_FLOOR, 0, gaussian)


def heatmaps(joints: np.ndarray, size: int, stride: int = 8, sigma: float = 3.0) -> np.ndarray:
    """(k + 1, size / stride, size / stride) float32 CPM targets of (k, 2) crop-pixel joints; σ in
    cells of this grid."""
    cells = size // stride
    maps = np.zeros((len(joints) + 1, cells, cells), np.float32)
    for j, (x, y) in enumerate(np.asarray(joints, dtype=np.float64)):
        if np.isfinite(x) and np.isfinite(y):
            maps[j] = gaussian_map(cells, x / stride, y / stride, sigma)
    maps[-1] = 1 - maps[:-1].max(axis=0) if len(joints) else 1
    return maps


def decode_heatmaps(maps: torch.Tensor, stride: int = 8, refine: bool = True) -> torch.Tensor:
    """(N, k, 2) input-pixel positions of (N, k, H, W) maps: each map's argmax cell, moved by the vertex
    of the parabola through it and its two neighbours on each axis (at most half a cell; none at the
    border) when ``refine``; cell j is pixel stride · j."""
    n, k, h, w = maps.shape
    flat = maps.reshape(n, k, -1).float()
    best = flat.argmax(-1)
    y, x = (best // w).float(), (best % w).float()
    if refine:
        x = x + _vertex(flat, best, 1, best % w, w)
        y = y + _vertex(flat, best, w, best // w, h)
    return torch.stack([x, y], -1) * stride


def _vertex(flat: torch.Tensor, best: torch.Tensor, step: int, position: torch.Tensor, length: int) -> torch.Tensor:
    """The parabola vertex's offset along one axis (``step`` apart in the flat maps), in cells."""
    inside = (position > 0) & (position < length - 1)
    lower = flat.gather(-1, (best - step).clamp(min=0).unsqueeze(-1)).squeeze(-1)
    upper = flat.gather(-1, (best + step).clamp(max=flat.shape[-1] - 1).unsqueeze(-1)).squeeze(-1)
    centre = flat.gather(-1, best.unsqueeze(-1)).squeeze(-1)
    curvature = lower - 2 * centre + upper
    offset = torch.where(curvature < 0, 0.5 * (lower - upper) / curvature.clamp(max=-1e-12), torch.zeros_like(centre))
    return torch.where(inside, offset.clamp(-0.5, 0.5), torch.zeros_like(offset))


class BodyPoseDataset(Dataset):
    """Person crops of selected samples of one prepared body-pose file, with the joints in crop
    pixels, their visibility, CPM's targets and the original → crop matrix of each item.

    An item: ``image`` (3, S, S) uint8 in the model's channel order, ``heatmaps`` (k + 1, S/8, S/8),
    ``joints`` (k, 2) crop pixels (NaN where the file has none), ``visible`` (k,), ``matrix`` (3, 3)
    and ``index``. ``sigma`` is on the report's 46-cell grid (``grid_sigma``). ``truth_joints``, ``visible`` and ``head_boxes`` hold the selected samples' original
    labels, for scoring predictions mapped back with ``to_original``."""

    def __init__(self, data: HPFile | str, indices: Sequence[int], preprocessing: Preprocessing,
                 augment: BodyAugmentation | None = None, seed: int = 0, sigma: float = 3.0, stride: int = 8):
        self.data = data if isinstance(data, HPFile) else HPFile(data)
        self.indices = np.asarray(indices, dtype=np.intp)
        self.preprocessing, self.augment, self.seed = preprocessing, augment, seed
        self.sigma, self.stride, self.epoch = sigma, stride, 0
        self.keys = self.data.keys[self.indices]
        self.truth_joints = self.data.joints[self.indices].astype(np.float64)
        self.visible = self.data.joints_visible[self.indices].astype(bool)
        grow, lower = PERSON_CROPS.get(str(self.data.layout.dataset), (1.0, 0.0))
        scales = self.data.person_scale[self.indices].astype(np.float64)
        self.centres = self.data.person_center[self.indices].astype(np.float64)
        self.centres[:, 1] += lower * scales
        self.scales = scales * grow
        self.head_boxes = self.data.box("head")[self.indices] if "head" in self.data.layout.box_sources else None
        self.joint_names = tuple(self.data.layout.joint_names)
        self.mirror = mirror_pairs(self.joint_names)
        size = preprocessing.input_size
        self.matrices = np.stack([crop_matrix(c, s, size) for c, s in zip(self.centres, self.scales)])

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def item_matrix(self, position: int) -> tuple[np.ndarray, bool]:
        """The original → crop matrix of an item (with its augmentation) and whether it is mirrored."""
        matrix, mirrored = self.matrices[position], False
        if self.augment is not None:
            rng = np.random.default_rng((self.seed, self.epoch, int(self.indices[position])))
            zoom, degrees, mirrored = self.augment.draw(rng)
            matrix = augmentation_matrix(self.preprocessing.input_size, zoom, degrees, mirrored) @ matrix
        return matrix, mirrored

    def __getitem__(self, position: int) -> dict:
        size = self.preprocessing.input_size
        matrix, mirrored = self.item_matrix(position)
        image = cv2.warpAffine(self.data.image(int(self.indices[position])), matrix[:2], (size, size),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=PAD_VALUE)
        joints = transform_points(matrix, self.truth_joints[position])
        visible = self.visible[position]
        if mirrored:
            joints, visible = joints[self.mirror], visible[self.mirror]
        return {"image": self.preprocessing.to_uint8(image),
                "heatmaps": torch.from_numpy(heatmaps(joints, size, self.stride,
                                                      grid_sigma(self.sigma, size // self.stride))),
                "joints": torch.from_numpy(joints.astype(np.float32)), "visible": torch.from_numpy(visible.copy()),
                "matrix": torch.from_numpy(matrix), "index": int(self.indices[position])}

    def to_crop(self, joints: np.ndarray) -> np.ndarray:
        """(n, k, 2) original-image pixels (the truth, or predictions) → the unaugmented crops' pixels."""
        return _through_each(self.matrices, joints)

    def to_original(self, crop_joints: np.ndarray) -> np.ndarray:
        """(n, k, 2) predictions in the (unaugmented) crops' pixels → original-image pixels."""
        return _through_each(np.linalg.inv(self.matrices), crop_joints)


def _through_each(matrices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n, k, 2) points, sample i's through the 3 × 3 affine ``matrices[i]``; NaN stays NaN."""
    return np.einsum("nij,nkj->nki", matrices[:, :2, :2], np.asarray(points, np.float64)) + matrices[:, None, :2, 2]
