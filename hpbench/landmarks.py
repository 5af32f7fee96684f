"""Facial landmark schemes: point names in the order the datasets store them."""

from __future__ import annotations


def _numbered(prefix: str, count: int) -> list[str]:
    return [f"{prefix}_{i}" for i in range(count)]


# iBUG 68 points (300W, 300W-LP): the subject's right side (image left when frontal) first.
IBUG68: tuple[str, ...] = tuple(
    _numbered("jaw", 17)
    + _numbered("right_brow", 5)
    + _numbered("left_brow", 5)
    + _numbered("nose_bridge", 4)
    + _numbered("nose_base", 5)
    + _numbered("right_eye", 6)
    + _numbered("left_eye", 6)
    + _numbered("outer_lip", 12)
    + _numbered("inner_lip", 8)
)

# AFLW's 21 feature points (FeatureCoordTypes order; AFLW2000-3D's pt2d). "Left" is the image left.
AFLW21: tuple[str, ...] = (
    "LeftBrowLeftCorner", "LeftBrowCenter", "LeftBrowRightCorner",
    "RightBrowLeftCorner", "RightBrowCenter", "RightBrowRightCorner",
    "LeftEyeLeftCorner", "LeftEyeCenter", "LeftEyeRightCorner",
    "RightEyeLeftCorner", "RightEyeCenter", "RightEyeRightCorner",
    "LeftEarLobe", "NoseLeft", "NoseCenter", "NoseRight", "RightEarLobe",
    "MouthLeftCorner", "MouthCenter", "MouthRightCorner", "ChinCenter",
)

assert len(IBUG68) == 68 and len(AFLW21) == 21
