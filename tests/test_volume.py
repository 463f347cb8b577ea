from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from pipeline.errors import GeometryError
from pipeline.volume import Volume, VolumeKind, stack_channels

OBLIQUE = tuple(
    np.array(
        [[np.cos(0.3), -np.sin(0.3), 0.0], [np.sin(0.3), np.cos(0.3), 0.0], [0.0, 0.0, 1.0]]
    ).ravel()
)


def make(shape=(4, 5, 6), **kw) -> Volume:
    return Volume(
        np.arange(np.prod(shape), dtype=np.float32).reshape(shape),
        spacing=kw.pop("spacing", (0.7, 0.8, 3.0)),
        **kw,
    )


def test_array_is_read_only_and_input_not_mutated() -> None:
    source = np.zeros((2, 3, 4))
    volume = Volume(source, spacing=(1, 1, 1))
    with pytest.raises(ValueError):
        volume.array[0, 0, 0] = 5
    source[0, 0, 0] = 1  # the caller's array stays writable
    assert source.flags.writeable


def test_sitk_round_trip_keeps_geometry_and_values() -> None:
    volume = make(origin=(10.0, -20.0, 5.0), direction=OBLIQUE)
    back = Volume.from_sitk(volume.to_sitk())
    assert back.same_grid(volume)
    np.testing.assert_array_equal(back.array, volume.array)


def test_index_to_world_matches_simpleitk() -> None:
    volume = make(origin=(10.0, -20.0, 5.0), direction=OBLIQUE)
    image = volume.to_sitk()
    for index in [(0, 0, 0), (5, 4, 3), (2, 1, 0)]:
        expected = image.TransformIndexToPhysicalPoint(index)
        np.testing.assert_allclose(volume.index_to_world(index), expected, atol=1e-9)
        np.testing.assert_allclose(volume.world_to_index(expected), index, atol=1e-9)
    np.testing.assert_allclose(
        volume.affine @ [5, 4, 3, 1], [*image.TransformIndexToPhysicalPoint((5, 4, 3)), 1]
    )


def test_bad_geometry_is_refused_with_the_value() -> None:
    with pytest.raises(GeometryError, match="spacing must be finite and > 0"):
        make(spacing=(0.7, 0.0, 3.0))
    with pytest.raises(GeometryError, match="orthonormal"):
        make(direction=(1, 0, 0, 0, 2, 0, 0, 0, 1))
    with pytest.raises(GeometryError, match=r"\[z, y, x\]"):
        Volume(np.zeros((3, 3)), spacing=(1, 1, 1))
    with pytest.raises(GeometryError, match="2 b-values for an array with 3 channels"):
        Volume(np.zeros((3, 2, 2, 2)), spacing=(1, 1, 1), b_values=(0, 1000))


def test_channels_and_b_values() -> None:
    base = make()
    dwi = stack_channels(
        [base, base.with_array(base.array * 2)], channels=("b0", "b1000"), b_values=(0, 1000)
    )
    assert dwi.n_channels == 2 and dwi.shape == base.shape
    np.testing.assert_array_equal(dwi.channel_for_b(1000).array, base.array * 2)
    with pytest.raises(GeometryError, match="no channel with b = 500"):
        dwi.channel_for_b(500)


def test_same_grid_tolerances() -> None:
    base = make()
    assert base.same_grid(make(origin=(0.0005, 0, 0)))
    assert not base.same_grid(make(origin=(0.01, 0, 0)))
    with pytest.raises(GeometryError, match="grids differ"):
        base.require_same_grid(make(spacing=(0.7, 0.8, 3.1)), what="test")


def test_label_kind_and_sitk_dimension_check() -> None:
    label = make().with_array(np.ones((4, 5, 6), np.uint8), kind=VolumeKind.LABEL)
    assert label.kind is VolumeKind.LABEL
    with pytest.raises(GeometryError, match="3-D"):
        Volume.from_sitk(sitk.Image([4, 4], sitk.sitkUInt8))
