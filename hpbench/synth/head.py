"""A parametric synthetic head: ellipsoid geometry, painted features and exact 3-D landmarks.

Head frame (units of roughly one head radius): x towards the subject's left (the image right when the
face is frontal), y up, z out of the face. The cranium and jaw ellipsoids make the face, smaller ones
the nose, eyeballs and ears, and a clipped ellipsoid the hair. Brows, lips, nostrils and beard are
painted on the skin as functions of the head-frame point, so the 68 iBUG and 21 AFLW landmarks (also
head-frame points) sit exactly on the features an image shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

SKIN, EYE, HAIR = 0, 1, 2

SKIN_TONES = np.array(
    [[224, 196, 178], [210, 170, 140], [190, 145, 110], [160, 115, 80], [120, 82, 56], [85, 58, 42]], np.float32
)
HAIR_COLOURS = np.array(
    [[22, 18, 16], [50, 35, 25], [90, 60, 35], [150, 110, 60], [200, 170, 110], [150, 70, 35], [170, 170, 170]],
    np.float32,
)
IRIS_COLOURS = np.array([[60, 40, 25], [95, 70, 40], [70, 110, 140], [80, 120, 90]], np.float32)


@dataclass(eq=False)
class Ellipsoid:
    center: np.ndarray  # (3,) head frame
    radii: np.ndarray  # (3,)
    material: int
    clip_normal: np.ndarray | None = None  # keep surface points q with q·normal >= clip_offset
    clip_offset: float = 0.0


@dataclass
class HeadModel:
    """One synthetic identity: shape, colours and feature placement (RGB colours in 0–255)."""

    parts: list[Ellipsoid]
    skin: np.ndarray
    hair: np.ndarray
    iris: np.ndarray
    lips: np.ndarray
    brow_inner: float
    brow_outer: float
    brow_y: float
    brow_arch: float
    brow_thickness: float
    mouth_y: float
    mouth_half_width: float
    mouth_half_height: float
    beard: bool
    nose: Ellipsoid
    eyes: tuple[Ellipsoid, Ellipsoid]  # image-left (−x) eye first
    ears: tuple[Ellipsoid, Ellipsoid]

    @classmethod
    def random(cls, rng: np.random.Generator) -> "HeadModel":
        u = rng.uniform
        cranium = Ellipsoid(np.array([0, 0.12, -0.05]), np.array([u(0.72, 0.82), u(0.9, 1.0), u(0.85, 0.95)]), SKIN)
        jaw = Ellipsoid(
            np.array([0, u(-0.36, -0.28), 0.08]), np.array([u(0.55, 0.68), u(0.6, 0.72), u(0.65, 0.75)]), SKIN
        )
        skin_parts = [cranium, jaw]
        nose_y = u(-0.14, -0.06)
        nose_radii = np.array([u(0.09, 0.14), u(0.2, 0.28), u(0.14, 0.22)])
        nose_z = _front_z(skin_parts, 0.0, nose_y) - 0.35 * nose_radii[2]
        nose = Ellipsoid(np.array([0.0, nose_y, nose_z]), nose_radii, SKIN)
        eye_x, eye_y, eye_r = u(0.26, 0.33), u(0.08, 0.14), u(0.1, 0.13)
        eyes = tuple(
            Ellipsoid(np.array([side * eye_x, eye_y, _front_z(skin_parts, side * eye_x, eye_y) - 0.55 * eye_r]),
                      np.full(3, eye_r), EYE)
            for side in (-1, 1)
        )
        ear_y, ear_ry = u(-0.05, 0.05), u(0.2, 0.26)
        ears = tuple(
            Ellipsoid(np.array([side * (cranium.radii[0] - 0.03), ear_y, -0.12]), np.array([0.07, ear_ry, 0.13]), SKIN)
            for side in (-1, 1)
        )
        parts = skin_parts + [nose, *eyes, *ears]
        if u() > 0.08:  # the rest are bald
            slope, front_line = u(0.35, 0.7), u(0.45, 0.68)
            normal = np.array([0.0, 1.0, -slope])
            parts.append(
                Ellipsoid(cranium.center + np.array([0, 0.04, -0.04]), cranium.radii * u(1.04, 1.09), HAIR,
                          normal, front_line - 0.8 * slope)
            )
            if u() < 0.3:
                parts.append(Ellipsoid(np.array([0, -0.25, -0.3]), np.array([u(0.8, 0.88), 0.85, 0.55]), HAIR))
        skin = _mix_palette(SKIN_TONES, u())
        mouth_y = u(-0.6, -0.5)
        return cls(
            parts=parts,
            skin=skin,
            hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * u(0.85, 1.15),
            iris=IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))],
            lips=skin * np.array([0.78, 0.5, 0.52], np.float32),
            brow_inner=u(0.09, 0.14),
            brow_outer=u(0.42, 0.5),
            brow_y=eye_y + u(0.17, 0.23),
            brow_arch=u(0.01, 0.05),
            brow_thickness=u(0.035, 0.06),
            mouth_y=mouth_y,
            mouth_half_width=u(0.2, 0.27),
            mouth_half_height=u(0.045, 0.075),
            beard=bool(u() < 0.15),
            nose=nose,
            eyes=eyes,
            ears=ears,
        )

    # ---- appearance -------------------------------------------------------------------------

    @cached_property
    def materials(self) -> np.ndarray:
        return np.array([p.material for p in self.parts])

    def albedo(self, q: np.ndarray, part: np.ndarray) -> np.ndarray:
        """RGB albedo (n, 3) float32 of head-frame surface points ``q`` (n, 3) on ``parts[part]``."""
        material = self.materials[part]
        colour = np.empty((len(q), 3), np.float32)
        colour[:] = self.skin
        face = np.flatnonzero((q[:, 2] > 0.15) & (material == SKIN))  # painted features live here
        x, y = q[face, 0], q[face, 1]
        dy_mouth = y - self.mouth_y
        lips = ((x * (1 / self.mouth_half_width)) ** 2 + (dy_mouth * (1 / self.mouth_half_height)) ** 2) < 1
        shade = np.ones(len(face), np.float32)
        for eye in self.eyes:  # a darker socket around each eye
            socket = ((x - eye.center[0]) / (1.7 * eye.radii[0])) ** 2 + ((y - eye.center[1]) / (1.3 * eye.radii[0])) ** 2
            shade[socket < 1] = 0.88
        nostril_y = self.nose.center[1] - 0.72 * self.nose.radii[1]
        nostril = (part[face] == self.parts.index(self.nose)) & (
            ((np.abs(x) - 0.4 * self.nose.radii[0]) / (0.3 * self.nose.radii[0])) ** 2
            + ((y - nostril_y) / (0.12 * self.nose.radii[1])) ** 2
            < 1
        )
        shade[nostril] = 0.45
        face_colour = np.empty((len(face), 3), np.float32)
        face_colour[:] = self.skin
        face_colour[lips] = self.lips
        if self.beard:
            face_colour[(dy_mouth < 0.06) & ~lips] = self.hair
        face_colour[self._brow_mask(x, y)] = self.hair
        face_colour[lips & (np.abs(dy_mouth) < 0.012)] = self.lips * 0.35
        colour[face] = face_colour * shade[:, None]
        eye = np.flatnonzero(material == EYE)
        if eye.size:
            colour[eye] = self._eye_albedo(q[eye], part[eye])
        hair = np.flatnonzero(material == HAIR)
        if hair.size:
            streak = 0.85 + 0.15 * np.sin(q[hair] @ np.array([45.0, 20.0, 9.0], np.float32))
            colour[hair] = self.hair * streak[:, None]
        return colour

    def _brow_mask(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ax = np.abs(x)
        half = (self.brow_outer - self.brow_inner) / 2
        t = (ax - (self.brow_inner + half)) / half
        centre_line = self.brow_y + self.brow_arch * (1 - t**2)
        return (np.abs(t) <= 1) & (np.abs(y - centre_line) < self.brow_thickness * (1 - 0.4 * t**2) / 2)

    def _eye_albedo(self, q: np.ndarray, part: np.ndarray) -> np.ndarray:
        centres = np.array([self.parts[i].center for i in part])
        radius = self.eyes[0].radii[0]
        d = (q - centres) / radius
        colour = np.empty((len(q), 3), np.float32)
        colour[:] = (235, 232, 225)
        colour[d[:, 2] > 0.88] = self.iris
        colour[d[:, 2] > 0.975] = (15, 12, 12)
        opening = (d[:, 0] / 0.8) ** 2 + (d[:, 1] / 0.42) ** 2
        colour[opening > 0.8] = (40, 30, 28)  # lash line
        colour[opening > 1] = self.skin * 0.8  # eyelids
        return colour

    # ---- landmarks --------------------------------------------------------------------------

    def surface_point(self, x, y) -> np.ndarray:
        """Head-frame surface points seen along +z at (x, y), ignoring hair (arrays broadcast)."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        solid = [p for p in self.parts if p.material != HAIR]
        return np.stack([x, y, _front_z(solid, x, y)], axis=-1)

    def _on_ellipsoid(self, part: Ellipsoid, direction) -> np.ndarray:
        direction = np.asarray(direction, float)
        return part.center + part.radii * direction / np.linalg.norm(direction)

    def _outline(self, angles_deg, shrink: float = 0.96) -> np.ndarray:
        """(n, 2) points just inside the frontal outline of cranium ∪ jaw, seen from (0, −0.15)."""
        angles = np.radians(np.asarray(angles_deg, float))
        origin = np.array([0.0, -0.15])
        directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        reach = np.zeros(len(angles))
        for part in self.parts[:2]:
            c, r = part.center[:2], part.radii[:2]
            o, d = (origin - c) / r, directions / r
            a, b, cc = (d**2).sum(1), (o * d).sum(1), (o**2).sum() - 1
            reach = np.maximum(reach, (-b + np.sqrt(b * b - a * cc)) / a)
        return origin + directions * (shrink * reach)[:, None]

    def _eyelid(self, eye: Ellipsoid, dx, upper) -> np.ndarray:
        """(n, 2) points on the eyelid opening at offsets ``dx`` (in eye radii) from the eye centre."""
        dx = np.asarray(dx, float)
        dy = 0.42 * np.sqrt(np.clip(1 - (dx / 0.8) ** 2, 0, 1)) * np.where(upper, 1, -1)
        return eye.center[:2] + eye.radii[0] * np.stack([dx, dy], axis=1)

    def _lips(self, angles_deg, scale_x: float, scale_y: float) -> np.ndarray:
        a = np.radians(np.asarray(angles_deg, float))
        return np.stack(
            [scale_x * self.mouth_half_width * np.cos(a), self.mouth_y + scale_y * self.mouth_half_height * np.sin(a)],
            axis=1,
        )

    def _brow(self, side: int, n: int) -> np.ndarray:
        """(n, 2) points along one brow, running from image left to image right."""
        t = np.linspace(1, -1, n) if side < 0 else np.linspace(-1, 1, n)
        half = (self.brow_outer - self.brow_inner) / 2
        return np.stack([side * (self.brow_inner + half + t * half), self.brow_y + self.brow_arch * (1 - t**2)], axis=1)

    @cached_property
    def landmarks(self) -> dict[str, np.ndarray]:
        """Head-frame 3-D landmarks: "68" in the iBUG order, "21" in AFLW's order.

        iBUG starts on the subject's right (−x); AFLW's "left" is the image left (also −x).
        """
        eye_dx = [-0.8, -0.35, 0.35, 0.8, 0.35, -0.35]
        eye_upper = [False, True, True, False, False, False]
        bridge_top = self.eyes[0].center[1] + 0.05
        tip = self._on_ellipsoid(self.nose, (0, -0.25, 1))
        nose_bottom_y = self.nose.center[1] - 0.7 * self.nose.radii[1]
        centre = [0.0, 0.0]  # placeholder for a point that is not on the frontal surface
        xy68 = [
            self._outline(np.linspace(170, 370, 17)),
            self._brow(-1, 5),
            self._brow(1, 5),
            np.stack([np.zeros(3), np.linspace(bridge_top, (bridge_top + tip[1]) / 2 + 0.03, 4)[:3]], axis=1),
            [centre],
            np.stack([np.linspace(-0.8, 0.8, 5) * self.nose.radii[0], np.full(5, nose_bottom_y)], axis=1),
            self._eyelid(self.eyes[0], eye_dx, eye_upper),
            self._eyelid(self.eyes[1], eye_dx, eye_upper),
            self._lips([180, 150, 115, 90, 65, 30, 0, -30, -65, -90, -115, -150], 1, 1),
            self._lips([180, 135, 90, 45, 0, -45, -90, -135], 0.8, 0.3),
        ]
        xy21 = [
            self._brow(-1, 3),
            self._brow(1, 3),
            self._eyelid(self.eyes[0], [-0.8, 0, 0.8], [False] * 3),
            self._eyelid(self.eyes[1], [-0.8, 0, 0.8], [False] * 3),
            [centre] * 5,
            np.stack([np.array([-1.0, 0, 1]) * self.mouth_half_width, np.full(3, self.mouth_y)], axis=1),
            self._outline([270.0]),
        ]
        xy = np.concatenate([np.reshape(block, (-1, 2)) for block in xy68 + xy21])
        points = self.surface_point(xy[:, 0], xy[:, 1])
        p68, p21 = points[:68], points[68:]
        p68[30] = tip
        p21[7] = self._on_ellipsoid(self.eyes[0], (0, 0, 1))
        p21[10] = self._on_ellipsoid(self.eyes[1], (0, 0, 1))
        p21[12:17] = [
            self._on_ellipsoid(self.ears[0], (-0.5, -0.85, 0.3)),
            self._on_ellipsoid(self.nose, (-1, -0.7, 0.4)),
            self._on_ellipsoid(self.nose, (0, -0.6, 0.8)),
            self._on_ellipsoid(self.nose, (1, -0.7, 0.4)),
            self._on_ellipsoid(self.ears[1], (0.5, -0.85, 0.3)),
        ]
        return {"68": p68, "21": p21}


def _front_z(parts: list[Ellipsoid], x, y) -> np.ndarray:
    """Largest z of the given ellipsoids' surfaces along the line (x, y, ·); −inf where none is hit."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    best = np.full(np.broadcast(x, y).shape, -np.inf)
    for p in parts:
        inside = 1 - ((x - p.center[0]) / p.radii[0]) ** 2 - ((y - p.center[1]) / p.radii[1]) ** 2
        z = p.center[2] + p.radii[2] * np.sqrt(np.clip(inside, 0, None))
        best = np.where(inside >= 0, np.maximum(best, z), best)
    return best


def _mix_palette(palette: np.ndarray, t: float) -> np.ndarray:
    position = t * (len(palette) - 1)
    low = int(np.floor(position))
    high = min(low + 1, len(palette) - 1)
    return (palette[low] * (1 - (position - low)) + palette[high] * (position - low)).astype(np.float32)
