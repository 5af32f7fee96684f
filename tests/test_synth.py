"""Synthetic heads: determinism, labels that sit on the rendered surface, the 3DDFA sign convention."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench.pose import rotation_from_ypr
from hpbench.synth.head import HAIR, HeadModel
from hpbench.synth.raycast import DepthBuffer, Placement, cast_ellipsoids, project
from hpbench.synth.scene import random_instance, render_face_image, render_scene


def test_rendering_is_deterministic_per_seed():
    a_image, a_labels = render_face_image(np.random.default_rng(7), (30, -10, 5), 128)
    b_image, b_labels = render_face_image(np.random.default_rng(7), (30, -10, 5), 128)
    c_image, _ = render_face_image(np.random.default_rng(8), (30, -10, 5), 128)
    np.testing.assert_array_equal(a_image, b_image)
    np.testing.assert_array_equal(a_labels.landmarks68, b_labels.landmarks68)
    assert not np.array_equal(a_image, c_image)


@pytest.mark.parametrize("ypr", [(0, 0, 0), (40, 15, -10), (-70, -20, 25)])
def test_visible_landmarks_lie_on_the_rendered_surface(ypr):
    head = HeadModel.random(np.random.default_rng(11))
    rotation, placement = rotation_from_ypr(ypr), Placement(300.0, 400.0, 400.0)
    buffer = DepthBuffer(800, 800)
    cast_ellipsoids(buffer, head.parts, rotation, placement)
    uv, depth = project(head.landmarks["68"], rotation, placement)
    surface = buffer.depth[np.round(uv[:, 1]).astype(int), np.round(uv[:, 0]).astype(int)]
    visible = depth >= surface - 0.02 * placement.scale
    assert visible.sum() >= (60 if ypr == (0, 0, 0) else 30)
    # a visible landmark is exactly on the surface the ray caster drew (to within a pixel's slope)
    assert np.abs(depth[visible] - surface[visible]).max() < 0.02 * placement.scale


def test_painted_features_sit_under_their_landmarks():
    head = HeadModel.random(np.random.default_rng(12))
    cranium = np.zeros(1, np.intp)
    for index in (19, 24):  # brow centres
        colour = head.albedo(head.landmarks["68"][index][None], cranium)
        np.testing.assert_allclose(colour[0], head.hair, rtol=1e-5)
    mouth_centre = head.landmarks["21"][18][None]
    assert not np.allclose(head.albedo(mouth_centre, cranium)[0], head.skin)  # lips, not skin


def test_signs_follow_the_3ddfa_convention():
    """Positive yaw turns the nose to the image left, positive pitch raises it, positive roll tilts
    the top of the head to the image right (as in the real AFLW2000 files)."""
    head = HeadModel.random(np.random.default_rng(13))
    placement = Placement(100.0, 200.0, 200.0)

    def nose_and_top(ypr):
        points = np.array([head.landmarks["68"][30], [0, 1.0, 0]])
        uv, _ = project(points, rotation_from_ypr(ypr), placement)
        return uv

    frontal = nose_and_top((0, 0, 0))
    assert nose_and_top((30, 0, 0))[0, 0] < frontal[0, 0] - 10
    assert nose_and_top((0, 30, 0))[0, 1] < frontal[0, 1] - 10
    assert nose_and_top((0, 0, 30))[1, 0] > frontal[1, 0] + 10


def test_supersampling_keeps_labels_and_image():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    instance = random_instance(rng_a, (20, 10, 0), 120, 120)
    random_instance(rng_b, (20, 10, 0), 120, 120)
    once, (labels_once,) = render_scene([instance], 120, 120, rng_a, supersample=1)
    twice, (labels_twice,) = render_scene([instance], 120, 120, rng_b, supersample=2)
    np.testing.assert_allclose(labels_once.landmarks68, labels_twice.landmarks68)
    np.testing.assert_allclose(labels_once.head_box, labels_twice.head_box, atol=1.0)
    assert np.abs(once.astype(float) - twice.astype(float)).mean() < 12


def test_head_box_holds_the_visible_landmarks_and_hair_is_optional():
    _, labels = render_face_image(np.random.default_rng(21), (10, 5, 0), 300)
    x1, y1, x2, y2 = labels.head_box
    visible = labels.landmarks21[labels.visible21]
    assert len(visible) >= 15
    assert ((visible[:, 0] >= x1) & (visible[:, 0] <= x2) & (visible[:, 1] >= y1) & (visible[:, 1] <= y2)).all()
    bald = [HeadModel.random(np.random.default_rng(seed)) for seed in range(60)]
    assert any(all(p.material != HAIR for p in head.parts) for head in bald)
