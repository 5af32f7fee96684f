"""Synthetic people: a 2-D articulated figure with 16 joints at exact positions (MPII's order).

A skeleton is grown from the pelvis with random torso tilt, facing (front or back), limb angles and
foreshortening, then drawn as thick limbs, a torso polygon and a head ellipse over a background. A
per-pixel part map drawn alongside tells which joints are hidden by another body part.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from hpbench.skeletons import MPII16
from hpbench.synth.background import random_background
from hpbench.synth.head import HAIR_COLOURS, SKIN_TONES

J = {name: index for index, name in enumerate(MPII16)}
# (joint a, joint b, width in torso lengths, colour group); the part id of a limb is its index here.
LIMBS = (
    ("right_hip", "right_knee", 0.22, "pants"), ("right_knee", "right_ankle", 0.17, "pants"),
    ("left_hip", "left_knee", 0.22, "pants"), ("left_knee", "left_ankle", 0.17, "pants"),
    ("right_shoulder", "right_elbow", 0.16, "shirt"), ("right_elbow", "right_wrist", 0.13, "skin"),
    ("left_shoulder", "left_elbow", 0.16, "shirt"), ("left_elbow", "left_wrist", 0.13, "skin"),
    ("thorax", "upper_neck", 0.14, "skin"),
)
NECK_PART, TORSO_PART, HEAD_PART = len(LIMBS) - 1, len(LIMBS), len(LIMBS) + 1
# The parts each joint belongs to: it is visible when one of them is drawn at its pixel.
JOINT_PARTS = {j: {p for p, limb in enumerate(LIMBS) if MPII16[j] in limb[:2]} for j in range(16)}
for name in ("pelvis", "thorax", "right_hip", "left_hip", "right_shoulder", "left_shoulder"):
    JOINT_PARTS[J[name]].add(TORSO_PART)
for name in ("upper_neck", "head_top"):
    JOINT_PARTS[J[name]].add(HEAD_PART)


@dataclass
class BodyLabels:
    joints: np.ndarray  # (16, 2) x, y pixels, MPII order
    visible: np.ndarray  # (16,) not hidden by another part and inside the image
    head_box: np.ndarray  # x1 y1 x2 y2 of the head ellipse
    center: np.ndarray  # (2,) middle of the joints' box
    scale: float  # MPII's unit: the person's height / 200 pixels


def _rotate(vector: np.ndarray, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([vector[0] * np.cos(a) - vector[1] * np.sin(a), vector[0] * np.sin(a) + vector[1] * np.cos(a)])


def random_skeleton(rng: np.random.Generator) -> np.ndarray:
    """(16, 2) joints in torso-length units, image axes (y down), pelvis at the origin."""
    u = rng.uniform
    roll = rng.choice([rng.normal(0, 12), u(-60, 60), u(150, 210)], p=[0.8, 0.15, 0.05])
    up = _rotate(np.array([0.0, -1.0]), roll)
    across = _rotate(np.array([1.0, 0.0]), roll) * (1 if u() < 0.75 else -1)  # −1: seen from the back
    joints = np.zeros((16, 2))
    joints[J["thorax"]] = up * u(0.9, 1.0)
    joints[J["upper_neck"]] = joints[J["thorax"]] + up * 0.25
    joints[J["head_top"]] = joints[J["upper_neck"]] + _rotate(up, rng.normal(0, 15)) * 0.5
    down = -up
    for side, sign in (("right", -1), ("left", 1)):
        hip = joints[J[f"{side}_hip"]] = across * sign * 0.2 * u(0.6, 1.0)
        knee = joints[J[f"{side}_knee"]] = hip + _rotate(down, rng.normal(0, 25) + sign * u(0, 15)) * 0.8 * u(0.6, 1)
        bend = u(0, 100) * (1 if rng.uniform() < 0.5 else -1)
        joints[J[f"{side}_ankle"]] = knee + _rotate(knee - hip, bend) / np.linalg.norm(knee - hip) * 0.75 * u(0.6, 1)
        shoulder = joints[J[f"{side}_shoulder"]] = joints[J["thorax"]] + across * sign * 0.3 * u(0.7, 1.0)
        elbow = joints[J[f"{side}_elbow"]] = shoulder + _rotate(down, sign * u(-30, 180)) * 0.55 * u(0.6, 1)
        bend = u(0, 150) * (1 if rng.uniform() < 0.5 else -1)
        joints[J[f"{side}_wrist"]] = elbow + _rotate(elbow - shoulder, bend) / np.linalg.norm(elbow - shoulder) * 0.5 * u(0.6, 1)
    return joints


def _outline_colour(colour) -> tuple[float, ...]:
    return tuple(0.6 * float(c) for c in colour)


def render_people(
    rng: np.random.Generator,
    height: int,
    width: int,
    people: int = 1,
    fill: float = 0.75,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, list[BodyLabels]]:
    """A BGR image with ``people`` figures side by side, each about ``fill`` of the image height."""
    image = random_background(rng, height, width) if background is None else background.copy()
    parts = np.full((height, width), -1, np.int16)
    labels = []
    for index in range(people):
        skeleton = random_skeleton(rng)
        low, high = skeleton.min(axis=0) - 0.35, skeleton.max(axis=0) + 0.35
        slot = width / people
        scale = min(fill * height / (high - low)[1], 0.9 * slot / (high - low)[0])
        offset = np.array([slot * (index + 0.5), height / 2]) - scale * (low + high) / 2
        offset += rng.uniform(-0.05, 0.05, 2) * [slot, height]
        joints = skeleton * scale + offset
        labels.append(_draw_person(rng, image, parts, joints, scale, index * 16))
    for label, index in zip(labels, range(people)):
        label.visible = _visible(label.joints, parts, index * 16)
    return image, labels


def _draw_person(rng, image, parts, joints, scale, first_part) -> BodyLabels:
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))][::-1]
    colours = {"skin": skin, "shirt": rng.uniform(0, 255, 3), "pants": rng.uniform(0, 255, 3)}
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))][::-1]
    behind = "right" if rng.uniform() < 0.5 else "left"
    order = [p for p, limb in enumerate(LIMBS) if limb[0].startswith(behind)]
    order += [TORSO_PART, NECK_PART, HEAD_PART]
    order += [p for p, limb in enumerate(LIMBS) if limb[0].split("_")[0] in ("right", "left")
              and not limb[0].startswith(behind)]
    head_centre = (joints[J["upper_neck"]] + joints[J["head_top"]]) / 2
    head_axes = (0.24 * scale, 0.3 * scale)
    head_angle = np.degrees(np.arctan2(*(joints[J["head_top"]] - joints[J["upper_neck"]])[::-1])) + 90
    for part in order:
        if part == TORSO_PART:
            corners = joints[[J["right_shoulder"], J["left_shoulder"], J["left_hip"], J["right_hip"]]]
            polygon = np.round(corners).astype(np.int32)
            cv2.fillConvexPoly(image, polygon, tuple(map(float, colours["shirt"])), cv2.LINE_AA)
            cv2.polylines(image, [polygon], True, _outline_colour(colours["shirt"]), 2, cv2.LINE_AA)
            cv2.fillConvexPoly(parts, polygon, int(first_part + part))
        elif part == HEAD_PART:
            centre = tuple(int(round(v)) for v in head_centre)
            axes = tuple(int(round(v)) for v in head_axes)
            cv2.ellipse(image, centre, axes, float(head_angle), 0, 360, tuple(map(float, skin)), -1, cv2.LINE_AA)
            cv2.ellipse(image, centre, axes, float(head_angle), 180, 360, tuple(map(float, hair)), -1, cv2.LINE_AA)
            cv2.ellipse(parts, centre, axes, float(head_angle), 0, 360, int(first_part + part), -1)
        else:
            a, b, width, group = LIMBS[part]
            start, end = (tuple(int(round(v)) for v in joints[J[n]]) for n in (a, b))
            thickness = max(2, int(round(width * scale)))
            cv2.line(image, start, end, _outline_colour(colours[group]), thickness + 2, cv2.LINE_AA)
            cv2.line(image, start, end, tuple(map(float, colours[group])), thickness, cv2.LINE_AA)
            cv2.line(parts, start, end, int(first_part + part), thickness + 2)
    half = np.abs(_rotate(np.array([head_axes[0], 0.0]), head_angle)) + np.abs(_rotate(np.array([0.0, head_axes[1]]), head_angle))
    head_box = np.concatenate([head_centre - half, head_centre + half])
    low = np.minimum(joints.min(axis=0), head_box[:2])
    high = np.maximum(joints.max(axis=0), head_box[2:])
    return BodyLabels(joints=joints, visible=np.ones(16, bool), head_box=head_box, center=(low + high) / 2,
                      scale=float((high - low)[1] / 200))


def _visible(joints: np.ndarray, parts: np.ndarray, first_part: int) -> np.ndarray:
    height, width = parts.shape
    visible = np.zeros(len(joints), bool)
    for j, (x, y) in enumerate(joints):
        col, row = int(round(x)), int(round(y))
        if 0 <= col < width and 0 <= row < height:
            visible[j] = parts[row, col] - first_part in JOINT_PARTS[j]
    return visible
