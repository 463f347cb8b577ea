"""The one image type of the pipeline: a frozen :class:`Volume` that carries its geometry.

Conventions, stated once
------------------------
* ``array`` is indexed ``[z, y, x]`` (slice, row, column), as ``SimpleITK.GetArrayFromImage``
  returns it; a multi-channel volume (e.g. one image per b-value) is ``[c, z, y, x]``.
* ``spacing``, ``origin`` and ``direction`` are in ITK order ``(x, y, z)`` and in the DICOM
  patient coordinate system LPS, millimetres. ``direction`` is the 3x3 matrix, row-major, whose
  *columns* are the directions of the x, y and z index axes.
* The 4x4 :attr:`Volume.affine` maps a homogeneous index ``(x, y, z, 1)`` to LPS millimetres.
* ``kind`` decides interpolation: intensities are resampled linearly, labels by nearest neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pipeline.errors import GeometryError

if TYPE_CHECKING:
    import SimpleITK as sitk

Vec3 = tuple[float, float, float]
Mat3 = tuple[float, float, float, float, float, float, float, float, float]

IDENTITY: Mat3 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

#: Two grids are "the same" when origins agree within this many mm ...
GRID_ORIGIN_TOL_MM = 1e-3
#: ... spacings within this relative difference, and direction cosines within this absolute one.
GRID_SPACING_RTOL = 1e-4
GRID_DIRECTION_ATOL = 1e-4


class VolumeKind(str, Enum):
    """What the voxel values mean; decides interpolation."""

    INTENSITY = "intensity"
    LABEL = "label"


def _vec3(values: Sequence[float], what: str) -> Vec3:
    items = tuple(float(v) for v in values)
    if len(items) != 3:
        raise GeometryError(f"{what} needs 3 values (x, y, z), got {len(items)}: {items}")
    return (items[0], items[1], items[2])


def _mat3(values: Sequence[float] | npt.NDArray[Any]) -> Mat3:
    flat = tuple(float(v) for v in np.asarray(values, dtype=float).ravel())
    if len(flat) != 9:
        raise GeometryError(f"direction needs 9 values (3x3), got {len(flat)}")
    return flat  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class Volume:
    """An image or label map with its geometry and meaning.

    Parameters
    ----------
    array
        Voxel values ``[z, y, x]`` or ``[c, z, y, x]``. Stored read-only; never mutated.
    spacing
        Voxel size ``(x, y, z)`` in mm, all > 0.
    origin
        LPS position in mm of the centre of voxel ``[0, 0, 0]``.
    direction
        Row-major 3x3 direction cosines; columns are the x, y, z index axes in LPS.
    kind
        :class:`VolumeKind`; labels are resampled by nearest neighbour.
    units
        Units of the voxel values, e.g. ``"1e-3 mm2/s"`` for ADC, ``""`` for arbitrary units.
    frame_of_reference_uid
        DICOM FrameOfReferenceUID of the grid, when known.
    channels
        One name per channel of a 4-D array (e.g. ``("b0", "b500", "b1000")``); empty for 3-D.
    b_values
        One diffusion weighting (s/mm^2) per channel for DWI; empty otherwise.
    """

    array: npt.NDArray[Any]
    spacing: Vec3
    origin: Vec3 = (0.0, 0.0, 0.0)
    direction: Mat3 = IDENTITY
    kind: VolumeKind = VolumeKind.INTENSITY
    units: str = ""
    frame_of_reference_uid: str | None = None
    channels: tuple[str, ...] = field(default=())
    b_values: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        if array.ndim not in (3, 4):
            raise GeometryError(
                f"Volume array must be [z, y, x] or [c, z, y, x], got shape {array.shape}"
            )
        if array.flags.writeable:
            array = array.view()
            array.flags.writeable = False
        object.__setattr__(self, "array", array)
        spacing = _vec3(self.spacing, "spacing")
        if min(spacing) <= 0 or not np.all(np.isfinite(spacing)):
            raise GeometryError(f"spacing must be finite and > 0 mm, got {spacing}")
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", _vec3(self.origin, "origin"))
        direction = _mat3(self.direction)
        matrix = np.asarray(direction).reshape(3, 3)
        if not np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-3):
            raise GeometryError(f"direction must be orthonormal, got {direction}")
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "kind", VolumeKind(self.kind))
        channels = tuple(self.channels)
        b_values = tuple(float(b) for b in self.b_values)
        n_channels = array.shape[0] if array.ndim == 4 else 0
        if channels and len(channels) != n_channels:
            raise GeometryError(
                f"{len(channels)} channel names for an array with {n_channels} channels"
            )
        if b_values and len(b_values) != n_channels:
            raise GeometryError(f"{len(b_values)} b-values for an array with {n_channels} channels")
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "b_values", b_values)

    # ------------------------------------------------------------------ shape and geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape ``(z, y, x)``."""
        z, y, x = self.array.shape[-3:]
        return (int(z), int(y), int(x))

    @property
    def size_xyz(self) -> tuple[int, int, int]:
        """Spatial size in ITK order ``(x, y, z)``."""
        z, y, x = self.shape
        return (x, y, z)

    @property
    def n_channels(self) -> int:
        return int(self.array.shape[0]) if self.array.ndim == 4 else 1

    @property
    def direction_matrix(self) -> npt.NDArray[np.float64]:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def affine(self) -> npt.NDArray[np.float64]:
        """4x4 matrix from index ``(x, y, z, 1)`` to LPS mm."""
        out = np.eye(4)
        out[:3, :3] = self.direction_matrix @ np.diag(self.spacing)
        out[:3, 3] = self.origin
        return out

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    def index_to_world(self, index_xyz: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map ``(..., 3)`` indices in ``(x, y, z)`` order to LPS mm."""
        idx = np.asarray(index_xyz, dtype=float)
        return idx @ (self.direction_matrix @ np.diag(self.spacing)).T + np.asarray(self.origin)

    def world_to_index(self, points_lps: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map ``(..., 3)`` LPS mm points to continuous ``(x, y, z)`` indices."""
        pts = np.asarray(points_lps, dtype=float) - np.asarray(self.origin)
        inverse = np.linalg.inv(self.direction_matrix @ np.diag(self.spacing))
        return np.asarray(pts @ inverse.T, dtype=float)

    def same_grid(self, other: Volume) -> bool:
        """True when both volumes share spatial shape, spacing, origin and direction."""
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing, rtol=GRID_SPACING_RTOL, atol=0)
            and np.allclose(self.origin, other.origin, atol=GRID_ORIGIN_TOL_MM, rtol=0)
            and np.allclose(self.direction, other.direction, atol=GRID_DIRECTION_ATOL, rtol=0)
        )

    def require_same_grid(self, other: Volume, *, what: str) -> None:
        """Raise :class:`GeometryError` naming ``what`` unless the grids agree."""
        if not self.same_grid(other):
            raise GeometryError(
                f"{what}: grids differ (shape {self.shape} vs {other.shape}, spacing "
                f"{self.spacing} vs {other.spacing}, origin {self.origin} vs {other.origin})",
                fix="resample one volume onto the other's grid first",
            )

    # ------------------------------------------------------------------ derived volumes
    def with_array(
        self,
        array: npt.ArrayLike,
        *,
        kind: VolumeKind | None = None,
        units: str | None = None,
        channels: tuple[str, ...] | None = None,
        b_values: tuple[float, ...] | None = None,
    ) -> Volume:
        """A new volume on the same grid with other voxel values (and optionally meaning)."""
        new = np.asarray(array)
        if new.shape[-3:] != self.shape:
            raise GeometryError(
                f"with_array: spatial shape {new.shape[-3:]} differs from {self.shape}"
            )
        keep_channels = new.ndim == 4 and new.shape[0] == self.n_channels
        return replace(
            self,
            array=new,
            kind=self.kind if kind is None else kind,
            units=self.units if units is None else units,
            channels=channels if channels is not None else (self.channels if keep_channels else ()),
            b_values=b_values if b_values is not None else (self.b_values if keep_channels else ()),
        )

    def channel(self, index: int) -> Volume:
        """One channel of a 4-D volume as a 3-D volume on the same grid."""
        if self.array.ndim != 4:
            raise GeometryError("channel(): this volume has no channels")
        return replace(self, array=self.array[index], channels=(), b_values=())

    def channel_for_b(self, b_value: float, *, tol: float = 1.0) -> Volume:
        """The channel whose b-value is within ``tol`` s/mm^2 of ``b_value``."""
        for i, b in enumerate(self.b_values):
            if abs(b - b_value) <= tol:
                return self.channel(i)
        raise GeometryError(f"no channel with b = {b_value} s/mm^2; b-values are {self.b_values}")

    # ------------------------------------------------------------------ SimpleITK bridge
    def to_sitk(self, channel: int | None = None) -> sitk.Image:
        """A SimpleITK image (3-D; pick ``channel`` for a 4-D volume)."""
        import SimpleITK as sitk

        array = self.array
        if array.ndim == 4:
            if channel is None:
                raise GeometryError("to_sitk(): pass channel= for a multi-channel volume")
            array = array[channel]
        image = sitk.GetImageFromArray(np.ascontiguousarray(array))
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image

    @classmethod
    def from_sitk(
        cls,
        image: sitk.Image,
        *,
        kind: VolumeKind = VolumeKind.INTENSITY,
        units: str = "",
        frame_of_reference_uid: str | None = None,
    ) -> Volume:
        """Build a 3-D volume from a SimpleITK image (geometry copied, array copied)."""
        import SimpleITK as sitk

        if image.GetDimension() != 3:
            raise GeometryError(f"expected a 3-D image, got {image.GetDimension()}-D")
        return cls(
            array=sitk.GetArrayFromImage(image),
            spacing=_vec3(image.GetSpacing(), "spacing"),
            origin=_vec3(image.GetOrigin(), "origin"),
            direction=_mat3(image.GetDirection()),
            kind=kind,
            units=units,
            frame_of_reference_uid=frame_of_reference_uid,
        )

    def describe(self) -> dict[str, Any]:
        """Geometry summary for provenance and inventories (no voxel data)."""
        return {
            "shape_zyx": list(self.shape),
            "spacing_xyz_mm": [round(s, 6) for s in self.spacing],
            "origin_lps_mm": [round(o, 4) for o in self.origin],
            "direction": [round(d, 6) for d in self.direction],
            "kind": self.kind.value,
            "units": self.units,
            "channels": list(self.channels),
            "b_values": list(self.b_values),
        }


def stack_channels(
    volumes: Sequence[Volume], *, channels: Sequence[str] = (), b_values: Sequence[float] = ()
) -> Volume:
    """Stack 3-D volumes that share one grid into a ``[c, z, y, x]`` volume."""
    if not volumes:
        raise GeometryError("stack_channels(): no volumes given")
    first = volumes[0]
    for i, other in enumerate(volumes[1:], start=1):
        first.require_same_grid(other, what=f"stack_channels(): channel {i}")
    array = np.stack([v.array for v in volumes], axis=0)
    return replace(first, array=array, channels=tuple(channels), b_values=tuple(b_values))
