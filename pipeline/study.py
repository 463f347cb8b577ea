"""Typed containers for what ingestion finds: :class:`Series`, :class:`RoiMask`, :class:`Study`.

They carry de-identified keys for everything that reaches a log, a file name or a report.
DICOM identifiers that a user may ask to keep (``--keep-identifiers``) travel separately in
:class:`PatientIdentity`, which nothing prints unless asked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from pipeline.errors import InputError
from pipeline.volume import Volume


class SeriesRole(str, Enum):
    """What a series is used for."""

    T2W = "t2w"
    DWI = "dwi"
    ADC = "adc"
    HIGH_B = "highb"
    OTHER = "other"


class MaskSource(str, Enum):
    """Where a region-of-interest mask came from."""

    SEG = "dicom-seg"
    RTSTRUCT = "rtstruct"
    FILE = "file"
    PROPAGATED = "propagated-baseline"
    MODEL = "model"


def deidentified_key(*parts: str, prefix: str = "", length: int = 12) -> str:
    """A stable, non-reversible key from identifiers (e.g. a StudyInstanceUID).

    Only ``[a-z0-9-]`` characters, so it is safe in file names.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]
    return f"{prefix}{digest}"


@dataclass(frozen=True)
class PatientIdentity:
    """DICOM patient identifiers, kept only to be copied into outputs on explicit request."""

    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""

    def __repr__(self) -> str:  # never leak identifiers through logs or tracebacks
        return "PatientIdentity(<withheld>)"


@dataclass(frozen=True)
class RoiMask:
    """A region of interest on the grid of the image it belongs to.

    ``volume`` is a ``uint8`` label volume (0/1). ``empty`` masks are valid results.
    """

    name: str
    volume: Volume
    source: MaskSource
    referenced_series_uid: str | None = None
    file: Path | None = None

    @property
    def n_voxels(self) -> int:
        return int((self.volume.array > 0).sum())

    @property
    def volume_ml(self) -> float:
        return self.n_voxels * self.volume.voxel_volume_mm3 / 1000.0


@dataclass(frozen=True)
class Series:
    """One image series (after splitting mixed series), with its role and why.

    ``volume`` is ``None`` until pixels are loaded; DWI volumes are 4-D, one channel per b-value.
    """

    key: str
    series_uid: str
    series_number: int | None
    description: str
    role: SeriesRole
    role_reason: str = ""
    modality: str = "MR"
    vendor: str = ""
    files: tuple[Path, ...] = ()
    b_values: tuple[float, ...] = ()
    b_value_source: str = ""
    frame_of_reference_uid: str | None = None
    warnings: tuple[str, ...] = ()
    volume: Volume | None = None

    @property
    def label(self) -> str:
        """A log-safe label: series number and role, never a raw description."""
        number = "?" if self.series_number is None else str(self.series_number)
        return f"series {number} ({self.role.value})"

    def require_volume(self) -> Volume:
        if self.volume is None:
            raise InputError("pixel data of this series was not loaded", series=self.label)
        return self.volume


@dataclass(frozen=True)
class Study:
    """One imaging session of one patient: its series and any masks found with it."""

    key: str
    study_uid: str
    series: tuple[Series, ...]
    masks: tuple[RoiMask, ...] = ()
    study_date: str = ""
    source: Path | None = None
    warnings: tuple[str, ...] = ()
    identity: PatientIdentity = field(default_factory=PatientIdentity)

    def by_role(self, role: SeriesRole) -> tuple[Series, ...]:
        return tuple(s for s in self.series if s.role is role)

    def first(self, role: SeriesRole) -> Series | None:
        found = self.by_role(role)
        return found[0] if found else None

    def require(self, role: SeriesRole) -> Series:
        found = self.first(role)
        if found is None:
            roles = ", ".join(f"{s.label}" for s in self.series) or "none"
            raise InputError(
                f"study {self.key} has no {role.value.upper()} series (found: {roles})",
                fix="check the series rules in configs/series_rules.yaml or pass the series",
            )
        return found
