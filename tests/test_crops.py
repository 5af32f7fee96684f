"""Crop geometry with hand-worked numbers, and box resolution."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench.data.crops import crop_image, cut, hopenet_aflw2000_region, kd_region, resize, square_region


def test_kd_region_clips_and_truncates():
    assert kd_region((10.7, 20.2, 100.9, 150.5), (480, 640)) == (10, 20, 100, 150)
    assert kd_region((-5.5, -0.5, 700.2, 500.9), (480, 640)) == (0, 0, 640, 480)


def test_hopenet_aflw2000_region_hand_worked():
    # w = h = 100, k = 0.2: x_min = 100 − 40 = 60, y_min = 60; x_max = 200 + 0.4·140 = 256;
    # y_max = 200 + 0.12·140 = 216.8 → 216
    assert hopenet_aflw2000_region((100, 100, 200, 200), (450, 450)) == (60, 60, 256, 216)


def test_square_regions_hand_worked():
    assert square_region((10, 20, 50, 100), (480, 640)) == (-10, 20, 70, 100)
    assert square_region((10, 20, 50, 100), (480, 640), margin=0.2) == (-26, 4, 86, 116)


def test_cut_pads_with_black_or_clips():
    image = np.arange(1, 5 * 6 + 1, dtype=np.uint8).reshape(5, 6)
    padded = cut(image, (-1, -1, 2, 2), pad=True)
    np.testing.assert_array_equal(padded, [[0, 0, 0], [0, 1, 2], [0, 7, 8]])
    np.testing.assert_array_equal(cut(image, (-1, -1, 2, 2), pad=False), [[1, 2], [7, 8]])


def test_resize_modes():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 100:] = 255
    assert resize(image, 32, "stretch").shape == (32, 32, 3)
    centred = resize(image, 50, "shorter-side-centre-crop")  # 50×100, then the middle 50 columns
    assert centred.shape == (50, 50, 3)
    assert centred[:, :20].max() == 0 and centred[:, 30:].min() == 255


def test_empty_crop_is_an_error():
    with pytest.raises(ValueError, match="empty region"):
        crop_image(np.zeros((10, 10, 3), np.uint8), (20, 20, 30, 30), "kd", 8)


def _with_partial_boxes(prepared_aflw2000, tmp_path):
    """A copy of the synthetic AFLW2000 file whose 'partial' boxes are missing for the first 3 samples."""
    import shutil

    from hpbench.format import HPFile, add_box_source

    path = tmp_path / "aflw2000.h5"
    shutil.copy(prepared_aflw2000, path)
    boxes = HPFile(path).box("landmarks").astype(np.float64)
    boxes[:3] = np.nan
    add_box_source(path, "partial", boxes)
    return path


def test_missing_boxes_fall_back_and_are_counted_or_refused(prepared_aflw2000, tmp_path):
    from hpbench.data.headpose import dataset_for
    from hpbench.errors import HpbenchError
    from hpbench.protocols import load_protocol, select

    _with_partial_boxes(prepared_aflw2000, tmp_path)
    protocol = tmp_path / "partial.yaml"
    protocol.write_text("{name: partial, version: 1, task: headpose, crop: kd, metrics: [mae], splits: {test: "
                        "[{dataset: aflw2000, boxes: partial}]}}")
    (selection,) = select(load_protocol(protocol), "test", tmp_path)
    assert selection.entry.reference == "landmarks"  # the converter's reference box
    dataset = dataset_for(selection, "kd", missing_face="fallback")
    first = np.flatnonzero(selection.indices < 3)
    assert dataset.fallback.sum() == len(first) and dataset.fallback[first].all()
    np.testing.assert_array_equal(dataset.boxes[first], selection.data.box("landmarks")[selection.indices[first]])
    with pytest.raises(HpbenchError, match=f"{len(first)} selected samples have no 'partial' box"):
        dataset_for(selection, "kd", missing_face="refuse")
