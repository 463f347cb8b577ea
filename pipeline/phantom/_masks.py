"""Tumour masks as DICOM: SEG (written with highdicom) or RTSTRUCT (written with pydicom).

Both reference the T2W series of their study: the SEG through its source images, the
RTSTRUCT through ContourImageSequence items (one per contour, naming the T2W SOPInstanceUID of
the slice) and the RTReferencedSeriesSequence. RTSTRUCT contours are CLOSED_PLANAR polygons
through the 0.5 level of the partial-volume mask, in LPS mm.
"""

from __future__ import annotations

from collections.abc import Sequence

import contourpy
import highdicom as hd
import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, RTStructureSetStorage
from pydicom.valuerep import DA, TM

import pipeline
from pipeline.phantom._dicom import StudyWriter, make_uid
from pipeline.phantom._geometry import Grid

MANUFACTURER = "ccr-pipeline phantom"


def _contours(fraction: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float64]]:
    """Closed polygons ``(N, 2)`` in (column, row) pixel indices at the 0.5 level."""
    padded = np.pad(fraction.astype(np.float64), 1)
    generator = contourpy.contour_generator(z=padded, line_type=contourpy.LineType.Separate)
    out = []
    for line in generator.lines(0.5):
        points = np.asarray(line, dtype=np.float64) - 1.0
        if len(points) > 1 and np.allclose(points[0], points[-1]):
            points = points[:-1]
        if len(points) >= 3:
            out.append(points)
    return out


def write_rtstruct(
    writer: StudyWriter,
    *,
    fraction: npt.NDArray[np.float32],
    grid: Grid,
    t2w: Sequence[Dataset],
    t2w_series_uid: str,
    roi_name: str,
    uid_tag: str,
) -> Dataset:
    """Write an RT Structure Set with one ROI outlined on the slices of ``t2w``."""
    sop_uid = make_uid(*writer.uid_seed, "rtstruct", uid_tag)
    ds = writer.base_dataset(RTStructureSetStorage, sop_uid)
    date = writer.date.strftime("%Y%m%d")
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = make_uid(*writer.uid_seed, "rtstruct-series", uid_tag)
    ds.SeriesNumber = writer.style.series_number("mask")
    ds.SeriesDescription = f"RTSTRUCT {roi_name}"
    ds.SeriesDate = ds.StructureSetDate = date
    ds.SeriesTime = ds.StructureSetTime = "120000"
    ds.OperatorsName = ""
    ds.InstanceNumber = 1
    ds.StructureSetLabel = roi_name[:16]
    ds.StructureSetName = roi_name
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "phantom"
    ds.SoftwareVersions = pipeline.__version__

    def image_ref(image: Dataset) -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID = image.SOPClassUID
        item.ReferencedSOPInstanceUID = image.SOPInstanceUID
        return item

    series_ref = Dataset()
    series_ref.SeriesInstanceUID = t2w_series_uid
    series_ref.ContourImageSequence = DicomSequence([image_ref(im) for im in t2w])
    study_ref = Dataset()
    study_ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Mgmt (retired)
    study_ref.ReferencedSOPInstanceUID = writer.study_uid
    study_ref.RTReferencedSeriesSequence = DicomSequence([series_ref])
    frame_ref = Dataset()
    frame_ref.FrameOfReferenceUID = writer.frame_uid
    frame_ref.RTReferencedStudySequence = DicomSequence([study_ref])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame_ref])

    roi = Dataset()
    roi.ROINumber = 1
    roi.ReferencedFrameOfReferenceUID = writer.frame_uid
    roi.ROIName = roi_name
    roi.ROIGenerationAlgorithm = "MANUAL"
    ds.StructureSetROISequence = DicomSequence([roi])

    contours = []
    for k, image in enumerate(t2w):
        for polygon in _contours(fraction[k]):
            index = np.column_stack([polygon, np.full(len(polygon), float(k))])
            world = grid.index_to_world(index)
            item = Dataset()
            item.ContourImageSequence = DicomSequence([image_ref(image)])
            item.ContourGeometricType = "CLOSED_PLANAR"
            item.NumberOfContourPoints = len(world)
            item.ContourData = [f"{v:.4f}" for v in world.ravel()]
            contours.append(item)
    roi_contour = Dataset()
    roi_contour.ReferencedROINumber = 1
    roi_contour.ROIDisplayColor = [255, 128, 0]
    roi_contour.ContourSequence = DicomSequence(contours)
    ds.ROIContourSequence = DicomSequence([roi_contour])

    observation = Dataset()
    observation.ObservationNumber = 1
    observation.ReferencedROINumber = 1
    observation.RTROIInterpretedType = "GTV"
    observation.ROIInterpreter = ""
    ds.RTROIObservationsSequence = DicomSequence([observation])
    ds.ApprovalStatus = "UNAPPROVED"
    writer.save(ds)
    return ds


def write_seg(
    writer: StudyWriter,
    *,
    mask: npt.NDArray[np.bool_],
    t2w: Sequence[Dataset],
    segment_label: str,
    uid_tag: str,
) -> Dataset:
    """Write a binary DICOM SEG of ``mask`` (``[z, y, x]`` on the grid of ``t2w``)."""
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=segment_label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    date = writer.date.strftime("%Y%m%d")
    seg = hd.seg.Segmentation(
        source_images=list(t2w),
        pixel_array=np.asarray(mask, dtype=np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=make_uid(*writer.uid_seed, "seg-series", uid_tag),
        series_number=writer.style.series_number("mask"),
        sop_instance_uid=make_uid(*writer.uid_seed, "seg", uid_tag),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="phantom",
        software_versions=pipeline.__version__,
        device_serial_number="0",
        content_label="TUMOUR",
        content_description=segment_label,
        series_description=f"SEG {segment_label}",
        content_date=date,
        content_time="120000",
        series_date=date,
        series_time="120000",
        transfer_syntax_uid=ExplicitVRLittleEndian,
        omit_empty_frames=True,
    )
    # highdicom draws the dimension organisation UID at random and stamps the current time;
    # make both seed-derived so that a seed gives byte-identical files.
    dim_uid = make_uid(*writer.uid_seed, "seg-dimension", uid_tag)
    for item in seg.DimensionOrganizationSequence:
        item.DimensionOrganizationUID = dim_uid
    for item in seg.DimensionIndexSequence:
        item.DimensionOrganizationUID = dim_uid
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = f"{date}120000"
    seg.InstanceCreationDate = DA(date)
    seg.InstanceCreationTime = TM("120000")
    path = writer.folder / writer.namer.next()
    seg.save_as(path, enforce_file_format=True)
    writer.written.append(path)
    return seg
