"""DICOM Segmentation (binary) of the tumour bed and the residual tumour on the T2W slices.

Segments
--------
``Tumour bed``
    Category SCT 49755003 "Morphologically Abnormal Structure", type SCT 52988006 "Lesion",
    anatomic region SCT 34402009 "Rectum".
``Residual tumour``
    Category SCT 49755003, type SCT 108369006 "Neoplasm" (the restricted-diffusion voxels:
    bright on high-b and dark on ADC).
``Residual tumour (network)``
    Category SCT 49755003, type SCT 108369006 "Neoplasm": the network's residual-tumour
    probability above its segmentation threshold (algorithm family "Artificial Intelligence").

An empty mask is a result, not an error: its segment is **omitted** (a segment without frames
breaks several viewers), it is listed in :attr:`SegOutcome.empty`, and the SR states it.
Segment numbers are consecutive from 1 over the segments written.
"""

from __future__ import annotations

from dataclasses import dataclass

import highdicom as hd
import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from pipeline.report._dicom_common import (
    DEVICE_SERIAL_NUMBER,
    MANUFACTURER,
    SERIES_NUMBER_SEG,
    SOFTWARE_NAME,
    SOFTWARE_VERSION,
    ReferenceSlices,
    add_research_statement,
)
from pipeline.volume import Volume

TUMOUR_BED = "Tumour bed"
RESIDUAL_TUMOUR = "Residual tumour"
NETWORK_TUMOUR = "Residual tumour (network)"

CATEGORY = codes.SCT.MorphologicallyAbnormalStructure
PROPERTY_TYPES: dict[str, Code] = {
    TUMOUR_BED: codes.SCT.Lesion,
    RESIDUAL_TUMOUR: codes.SCT.Neoplasm,
    NETWORK_TUMOUR: codes.SCT.Neoplasm,
}
ANATOMIC_REGION = codes.SCT.Rectum

#: How the tumour bed was obtained (decision.json ``imaging.tumour_bed_status``) -> SEG algorithm.
_BED_ALGORITHM: dict[str, tuple[str, Code, str]] = {
    "given": ("SEMIAUTOMATIC", codes.cid7162.ManualProcessing, "given mask resampled to T2W"),
    "propagated": (
        "AUTOMATIC",
        codes.cid7162.DeformableModels,
        "baseline mask propagated by deformable registration",
    ),
    "model": ("AUTOMATIC", codes.cid7162.ArtificialIntelligence, "found by the network"),
}
_RESIDUAL_ALGORITHM = (
    "AUTOMATIC",
    codes.cid7162.MultispectralProcessing,
    "restricted diffusion: high-b ratio and ADC thresholds, cluster size filter",
)
_NETWORK_ALGORITHM = (
    "AUTOMATIC",
    codes.cid7162.ArtificialIntelligence,
    "network residual-tumour probability above the model card's segmentation threshold",
)
_COLOURS = {
    TUMOUR_BED: hd.color.CIELabColor(91.0, -48.0, -14.0),  # cyan, as in the report figures
    RESIDUAL_TUMOUR: hd.color.CIELabColor(53.0, 80.0, 67.0),  # red
    NETWORK_TUMOUR: hd.color.CIELabColor(75.0, 24.0, 79.0),  # orange
}


@dataclass(frozen=True)
class SegOutcome:
    """The SEG dataset (``None`` when no segment has a voxel) and what it holds.

    Attributes
    ----------
    dataset
        The Segmentation, or ``None`` when every given mask is empty.
    segment_numbers
        Segment label -> SegmentNumber, for the segments written.
    tracking_uids
        Segment label -> TrackingUID (the SR's tracking identifiers reuse them).
    empty
        Labels of masks that were given but empty, hence omitted.
    """

    dataset: Dataset | None
    segment_numbers: dict[str, int]
    tracking_uids: dict[str, str]
    empty: tuple[str, ...]


def _algorithm(label: str, bed_status: str) -> tuple[str, hd.AlgorithmIdentificationSequence]:
    if label == TUMOUR_BED:
        kind, family, how = _BED_ALGORITHM.get(bed_status, _BED_ALGORITHM["given"])
    elif label == NETWORK_TUMOUR:
        kind, family, how = _NETWORK_ALGORITHM
    else:
        kind, family, how = _RESIDUAL_ALGORITHM
    identification = hd.AlgorithmIdentificationSequence(
        name=SOFTWARE_NAME,
        family=family,
        version=SOFTWARE_VERSION,
        source=SOFTWARE_NAME,
        parameters={"method": how},
    )
    return kind, identification


def _binary(mask: Volume, t2w: Volume, label: str) -> npt.NDArray[np.uint8]:
    t2w.require_same_grid(mask, what=f"DICOM SEG segment '{label}'")
    return np.asarray(mask.array > 0, dtype=np.uint8)


def build_segmentation(
    refs: ReferenceSlices,
    t2w: Volume,
    *,
    tumour_bed: Volume | None,
    residual: Volume | None,
    bed_status: str,
    network_tumour: Volume | None = None,
) -> SegOutcome:
    """Build the binary SEG on the T2W slices.

    Parameters
    ----------
    refs
        Reference slices in T2W z order (``refs.datasets[z]`` is ``t2w.array[z]``).
    t2w
        The restaging T2W volume ``[z, y, x]``; the masks must share its grid.
    tumour_bed, residual
        Label volumes ``[z, y, x]`` (voxels > 0 are inside), or ``None`` when not produced.
    bed_status
        How the bed was obtained: ``"given"``, ``"propagated"`` or ``"model"``.
    network_tumour
        The network's residual-tumour segmentation (label volume), or ``None``.
    """
    planes: list[npt.NDArray[np.uint8]] = []
    descriptions: list[hd.seg.SegmentDescription] = []
    numbers: dict[str, int] = {}
    tracking: dict[str, str] = {}
    empty: list[str] = []
    given = {TUMOUR_BED: tumour_bed, RESIDUAL_TUMOUR: residual, NETWORK_TUMOUR: network_tumour}
    for label, mask in given.items():
        if mask is None:
            continue
        binary = _binary(mask, t2w, label)
        if not binary.any():
            empty.append(label)
            continue
        number = len(descriptions) + 1
        kind, identification = _algorithm(label, bed_status)
        tracking[label] = str(hd.UID())
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=label,
                segmented_property_category=CATEGORY,
                segmented_property_type=PROPERTY_TYPES[label],
                algorithm_type=kind,
                algorithm_identification=identification,
                tracking_uid=tracking[label],
                tracking_id=label,
                anatomic_regions=[ANATOMIC_REGION],
                display_color=_COLOURS[label],
            )
        )
        numbers[label] = number
        planes.append(binary)
    if not descriptions:
        return SegOutcome(None, {}, {}, tuple(empty))
    seg = hd.seg.Segmentation(
        source_images=list(refs.datasets),
        pixel_array=np.stack(planes, axis=-1),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER_SEG,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=SOFTWARE_NAME,
        software_versions=SOFTWARE_VERSION,
        device_serial_number=DEVICE_SERIAL_NUMBER,
        content_label="CCR_SEG",
        series_description=f"{SOFTWARE_NAME} SEG (research use only)",
        omit_empty_frames=True,
    )
    seg.BodyPartExamined = "RECTUM"
    add_research_statement(seg)
    return SegOutcome(seg, numbers, tracking, tuple(empty))
