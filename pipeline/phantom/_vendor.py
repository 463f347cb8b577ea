"""Vendor styles: how Siemens, GE and Philips scanners name series and store b-values.

b-value tags written per style (the pipeline must read them with vendor fallbacks):

* Siemens: ``(0019,100C)`` IS in the block of private creator ``SIEMENS MR HEADER`` and the
  b-value in SequenceName (``*ep_b1000t``); (0018,9087) DiffusionBValue only in some cases.
* GE: ``(0043,1039)`` IS, four values, the first being ``b + 1e9``, creator ``GEMS_PARM_01``;
  in some cases b = 0 images carry no b-value at all (as GE and Canon do).
* Philips: ``(2001,1003)`` FL, creator ``Philips Imaging DD 001``, and (0018,9087); in some
  cases b = 0 is written as a tiny dummy value (0.001).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from pipeline.phantom._options import Vendor
from pipeline.phantom._physics import Rescale

_MODELS: dict[Vendor, tuple[str, tuple[tuple[str, float, str], ...]]] = {
    Vendor.SIEMENS: (
        "SIEMENS",
        (
            ("MAGNETOM Skyra", 3.0, "syngo MR E11"),
            ("MAGNETOM Aera", 1.5, "syngo MR E11"),
            ("MAGNETOM Vida", 3.0, "syngo MR XA31"),
        ),
    ),
    Vendor.GE: (
        "GE MEDICAL SYSTEMS",
        (
            ("SIGNA Premier", 3.0, "29\\LX\\MR29.1_EA_2039.a"),
            ("DISCOVERY MR750w", 3.0, "27\\LX\\MR Software release"),
            ("SIGNA Artist", 1.5, "28\\LX\\MR28.0_R04"),
        ),
    ),
    Vendor.PHILIPS: (
        "Philips Medical Systems",
        (
            ("Ingenia", 3.0, "5.6.1\\5.6.1.2"),
            ("Achieva dStream", 1.5, "5.4.1\\5.4.1.0"),
            ("Ingenia Elition X", 3.0, "5.7.1\\5.7.1.1"),
        ),
    ),
}

_FILE_PATTERNS = (("IM{:04d}", ".dcm"), ("IM{:05d}", ""), ("MR{:06d}", ".dcm"), ("{:08d}", ""))


@dataclass(frozen=True)
class VendorStyle:
    """How one scanner writes one study."""

    vendor: Vendor
    manufacturer: str
    model: str
    software: str
    field_strength: float
    standard_b_tag: bool
    b0_value_omitted: bool
    philips_dummy_b0: bool
    t2w_rescale: Rescale
    dwi_rescale: Rescale
    slice_order: str  # InstanceNumber order: ascending | descending | shuffled
    dwi_order: str  # b_major | slice_major
    file_pattern: str
    file_suffix: str
    random_file_numbers: bool

    @classmethod
    def draw(cls, rng: np.random.Generator, vendor: Vendor | None = None) -> VendorStyle:
        vendor = vendor or Vendor(str(rng.choice([v.value for v in Vendor])))
        manufacturer, models = _MODELS[vendor]
        model, field, software = models[int(rng.integers(0, len(models)))]
        philips = vendor is Vendor.PHILIPS

        def rescale() -> Rescale:
            if philips:
                return Rescale(round(float(rng.uniform(0.6, 3.5)), 6), 0.0, written=True)
            return Rescale(1.0, 0.0, written=bool(rng.random() < 0.25))

        pattern, suffix = _FILE_PATTERNS[int(rng.integers(0, len(_FILE_PATTERNS)))]
        return cls(
            vendor=vendor,
            manufacturer=manufacturer,
            model=model,
            software=software,
            field_strength=field,
            standard_b_tag=philips or bool(rng.random() < 0.5),
            b0_value_omitted=vendor is Vendor.GE and bool(rng.random() < 0.5),
            philips_dummy_b0=philips and bool(rng.random() < 0.5),
            t2w_rescale=rescale(),
            dwi_rescale=rescale(),
            slice_order=str(rng.choice(["ascending", "descending", "shuffled"])),
            dwi_order="slice_major" if philips or rng.random() < 0.3 else "b_major",
            file_pattern=pattern,
            file_suffix=suffix,
            random_file_numbers=bool(rng.random() < 0.3),
        )

    # ------------------------------------------------------------------ naming
    def series_number(self, role: str) -> int:
        numbers = {
            Vendor.SIEMENS: {"t2w": 4, "dwi": 7, "adc": 8, "mask": 100},
            Vendor.GE: {"t2w": 3, "dwi": 5, "adc": 500, "mask": 900},
            Vendor.PHILIPS: {"t2w": 401, "dwi": 601, "adc": 602, "mask": 1001},
        }
        return numbers[self.vendor][role]

    def description(self, role: str, b_values: tuple[int, ...]) -> str:
        joined = "_".join(str(b) for b in b_values)
        names = {
            Vendor.SIEMENS: {
                "t2w": "t2_tse_tra_p2",
                "dwi": f"ep2d_diff_b{joined}_tra",
                "adc": f"ep2d_diff_b{joined}_tra_ADC",
            },
            Vendor.GE: {
                "t2w": "Ax T2 FRFSE",
                "dwi": f"Ax DWI b{max(b_values)}",
                "adc": "ADC (10^-6 mm²/s)",
            },
            Vendor.PHILIPS: {"t2w": "T2W_TSE_ax", "dwi": f"DWI_b{joined}", "adc": "dADC"},
        }
        return names[self.vendor][role]

    def image_type(self, role: str) -> list[str]:
        if role == "adc":
            return ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]
        if self.vendor is Vendor.SIEMENS:
            if role == "dwi":
                return ["DERIVED", "PRIMARY", "DIFFUSION", "TRACEW", "ND", "NORM"]
            return ["ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"]
        if self.vendor is Vendor.GE:
            return ["ORIGINAL", "PRIMARY", "OTHER"]
        return ["ORIGINAL", "PRIMARY", "M_SE", "M", "SE"]

    def sequence(self, role: str, b_value: int | None = None) -> dict[str, Any]:
        """Sequence attributes (ScanningSequence, SequenceName, ...) of a series."""
        if role == "t2w":
            names = {Vendor.SIEMENS: "*tse2d1_17", Vendor.GE: "frfse2d", Vendor.PHILIPS: "TSE"}
            return {
                "ScanningSequence": "SE",
                "SequenceVariant": ["SK", "SP", "OSP"],
                "ScanOptions": {
                    Vendor.SIEMENS: "SAT1",
                    Vendor.GE: "FAST_GEMS",
                    Vendor.PHILIPS: "OTHER",
                }[self.vendor],
                "SequenceName": names[self.vendor],
                "RepetitionTime": 4800.0,
                "EchoTime": 102.0,
                "EchoTrainLength": 17,
                "FlipAngle": 150.0,
            }
        if self.vendor is Vendor.SIEMENS:
            name = "*ep_adc" if role == "adc" else (f"*ep_b{b_value}t" if b_value else "*ep_b0")
        else:
            name = {Vendor.GE: "epi2", Vendor.PHILIPS: "DwiSE"}[self.vendor]
        scanning = ["SE", "EP"] if self.vendor is Vendor.PHILIPS else "EP"
        return {
            "ScanningSequence": scanning,
            "SequenceVariant": ["SK", "SP"],
            "ScanOptions": "FS",
            "SequenceName": name,
            "RepetitionTime": 5200.0,
            "EchoTime": 68.0,
            "EchoTrainLength": 1,
            "FlipAngle": 90.0,
        }

    # ------------------------------------------------------------------ b-values
    def write_b_value(self, ds: Dataset, b_value: int) -> list[str]:
        """Write ``b_value`` the way this vendor does; returns the tags written."""
        written: list[str] = []
        if self.vendor is Vendor.GE and b_value == 0 and self.b0_value_omitted:
            return written
        value: float = float(b_value)
        if self.vendor is Vendor.PHILIPS and b_value == 0 and self.philips_dummy_b0:
            value = 0.001
        if self.standard_b_tag:
            ds.DiffusionBValue = value
            written.append("(0018,9087)")
        if self.vendor is Vendor.SIEMENS:
            ds.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(0x0C, "IS", b_value)
            written.append("(0019,100C)")
        elif self.vendor is Vendor.GE:
            block = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
            block.add_new(0x39, "IS", [b_value + 1_000_000_000, 0, 0, 0])
            written.append("(0043,1039)")
        else:
            ds.private_block(0x2001, "Philips Imaging DD 001", create=True).add_new(
                0x03, "FL", value
            )
            written.append("(2001,1003)")
        return written

    def as_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor.value,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "software_versions": self.software,
            "field_strength_t": self.field_strength,
            "standard_b_value_tag": self.standard_b_tag,
            "b0_value_omitted": self.b0_value_omitted,
            "philips_dummy_b0": self.philips_dummy_b0,
            "t2w_rescale": {
                "slope": self.t2w_rescale.slope,
                "intercept": self.t2w_rescale.intercept,
                "written": self.t2w_rescale.written,
            },
            "dwi_rescale": {
                "slope": self.dwi_rescale.slope,
                "intercept": self.dwi_rescale.intercept,
                "written": self.dwi_rescale.written,
            },
            "instance_number_order": self.slice_order,
            "dwi_instance_order": self.dwi_order,
            "file_names": f"{self.file_pattern}{self.file_suffix}"
            + (" (random numbers)" if self.random_file_numbers else " (sequential)"),
        }
