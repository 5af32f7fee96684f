"""Body joint schemes: joint names in the order the datasets store them."""

from __future__ import annotations

# LSP / LSP-extended: 14 joints ("right" is the person's right).
LSP14: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)
# MPII Human Pose: 16 joints, in the order of their ids 0–15.
MPII16: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "pelvis", "thorax", "upper_neck", "head_top",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
)
# LSP joint i is MPII joint LSP_FROM_MPII[i] (LSP's neck is MPII's upper neck).
LSP_FROM_MPII: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9)

LSP_TORSO = (LSP14.index("left_shoulder"), LSP14.index("right_hip"))  # PCK's reference length: (9, 2)
MPII_PCKH_EXCLUDED = (MPII16.index("pelvis"), MPII16.index("thorax"))  # (6, 7), left out of the PCKh mean

assert [MPII16[i].replace("upper_", "") for i in LSP_FROM_MPII] == list(LSP14)

# The bones drawn between joints, by name; a scheme draws those whose two joints it has.
BONES: tuple[tuple[str, str], ...] = (
    ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("left_ankle", "left_knee"), ("left_knee", "left_hip"),
    ("right_hip", "left_hip"), ("right_wrist", "right_elbow"), ("right_elbow", "right_shoulder"),
    ("left_wrist", "left_elbow"), ("left_elbow", "left_shoulder"), ("right_shoulder", "left_shoulder"),
    ("neck", "head_top"), ("upper_neck", "head_top"), ("thorax", "upper_neck"), ("pelvis", "thorax"),
    ("right_shoulder", "neck"), ("left_shoulder", "neck"),
)


def bones(joint_names: tuple[str, ...]) -> list[tuple[int, int]]:
    """The BONES of a joint scheme as pairs of its joint indices."""
    index = {name: i for i, name in enumerate(joint_names)}
    return [(index[a], index[b]) for a, b in BONES if a in index and b in index]
