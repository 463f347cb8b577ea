"""Made-up but realistic patient identifiers and study dates, deterministic for a seed.

Nothing here is a real person. Identifiers go into DICOM headers only, never into file or
folder names (those use the case id).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

_SURNAMES = (
    "Kowalski",
    "Jansen",
    "Moreau",
    "Rossi",
    "Schmidt",
    "Novak",
    "Lindqvist",
    "O'Brien",
    "García",
    "Müller",
    "Nielsen",
    "Horvath",
    "Costa",
    "Van den Berg",
    "Dubois",
    "Andersson",
    "Kaur",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Fischer",
    "Brennan",
    "De Vries",
    "Svoboda",
)
_GIVEN_F = ("Anna", "Maria", "Ingrid", "Sofia", "Elena", "Aoife", "Zoë", "Hanna", "Chiara")
_GIVEN_M = ("Jan", "Luca", "Pieter", "Tomasz", "Henrik", "José", "Olivier", "Jörg", "Kenji")
_INSTITUTIONS = (
    "Regional Cancer Centre",
    "University Hospital North",
    "St. Elsewhere Medical Centre",
    "City General Hospital",
    "Klinikum Mitte",
    "Ospedale San Phantom",
)


@dataclass(frozen=True)
class PatientIdentity:
    """The DICOM identifiers of one phantom patient."""

    name: str
    patient_id: str
    birth_date: str
    sex: str
    institution: str

    def age_at(self, date: dt.date) -> str:
        born = dt.date.fromisoformat(
            f"{self.birth_date[:4]}-{self.birth_date[4:6]}-{self.birth_date[6:]}"
        )
        years = date.year - born.year - ((date.month, date.day) < (born.month, born.day))
        return f"{years:03d}Y"


@dataclass(frozen=True)
class StudyDates:
    """Dates of the two studies and of the clinical examinations (ISO dates)."""

    baseline: dt.date
    restaging: dt.date
    endoscopy: dt.date
    cea: dt.date


def draw_identity(rng: np.random.Generator) -> PatientIdentity:
    female = bool(rng.random() < 0.4)
    surname = str(rng.choice(_SURNAMES))
    given = str(rng.choice(_GIVEN_F if female else _GIVEN_M))
    middle = chr(ord("A") + int(rng.integers(0, 26)))
    name = f"{surname}^{given}^{middle}" if rng.random() < 0.5 else f"{surname}^{given}"
    year = int(rng.integers(1945, 1986))
    born = dt.date(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
    return PatientIdentity(
        name=name,
        patient_id=f"MRN{int(rng.integers(1_000_000, 9_999_999)):07d}",
        birth_date=born.strftime("%Y%m%d"),
        sex="F" if female else "M",
        institution=str(rng.choice(_INSTITUTIONS)),
    )


def draw_dates(rng: np.random.Generator) -> StudyDates:
    restaging = dt.date(2024, 1, 8) + dt.timedelta(days=int(rng.integers(0, 900)))
    baseline = restaging - dt.timedelta(days=int(rng.integers(70, 99)))
    return StudyDates(
        baseline=baseline,
        restaging=restaging,
        endoscopy=restaging - dt.timedelta(days=int(rng.integers(0, 8))),
        cea=restaging - dt.timedelta(days=int(rng.integers(1, 11))),
    )
