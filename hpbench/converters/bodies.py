"""What the body-pose converters share: the layout and the person centre and scale."""

from __future__ import annotations

import numpy as np

from hpbench.format import Layout

PERSON_MARGIN = 1.25


def body_layout(dataset: str, joint_names: tuple[str, ...], box_sources: tuple[str, ...], meta: dict) -> Layout:
    return Layout(dataset=dataset, task="bodypose", pose_angles=(), joint_names=joint_names,
                  box_sources=box_sources, meta=meta)


def person_from_joints(joints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and scale of a person from its joints, for datasets that give neither (LSP, LSPET).

    The joints used are the visible ones with coordinates (all joints with coordinates when fewer
    than two are visible). Centre: the middle of their bounding box. Scale, in MPII's unit (200 px):
    1.25 × the longer side of that box / 200.
    """
    finite = np.isfinite(joints).all(axis=1)
    used = joints[finite & visible] if np.count_nonzero(finite & visible) >= 2 else joints[finite]
    if len(used) == 0:
        return np.full(2, np.nan), float("nan")
    low, high = used.min(axis=0), used.max(axis=0)
    return (low + high) / 2, float(PERSON_MARGIN * (high - low).max() / 200)
