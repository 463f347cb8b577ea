"""DICOM Parametric Map of the ADC on the restaging T2W grid.

Pixel data are 32-bit floats in um2/s (UCUM ``um2/s``): the pipeline's ADC in 1e-3 mm^2/s
times 1000, so the stored value is the real-world value (Real World Value Mapping slope 1,
intercept 0, quantity DCM 113041 "Apparent Diffusion Coefficient"). The round trip is exact
to float32 precision (relative 6e-8). ADC 0 marks voxels that were not fitted (outside the
body or too little signal), as in the pipeline's ADC map.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from pipeline.errors import InputError
from pipeline.report._dicom_common import (
    ADC_PIPELINE_TO_DICOM,
    DEVICE_SERIAL_NUMBER,
    MANUFACTURER,
    SERIES_NUMBER_PMAP,
    SOFTWARE_NAME,
    SOFTWARE_VERSION,
    UNIT_ADC,
    ReferenceSlices,
    add_research_statement,
)
from pipeline.volume import Volume

#: Display window of the map, um2/s (0..3000 um2/s = 0..3 x 1e-3 mm^2/s).
WINDOW_CENTER = 1500.0
WINDOW_WIDTH = 3000.0


def build_adc_map(refs: ReferenceSlices, t2w: Volume, adc: Volume) -> Dataset:
    """Build the ADC Parametric Map.

    Parameters
    ----------
    refs
        Reference slices in T2W z order.
    t2w
        The restaging T2W volume; ``adc`` must share its grid.
    adc
        ADC ``[z, y, x]`` in 1e-3 mm^2/s on the T2W grid.

    Returns
    -------
    pydicom.dataset.Dataset
        The Parametric Map, one float32 frame per T2W slice, values in um2/s.
    """
    t2w.require_same_grid(adc, what="DICOM Parametric Map (ADC)")
    if adc.array.ndim != 3:
        raise InputError(f"ADC map must be 3-D [z, y, x], got shape {adc.array.shape}")
    values = np.asarray(adc.array, dtype=np.float64) * ADC_PIPELINE_TO_DICOM
    finite = values[np.isfinite(values)]
    if finite.size != values.size:
        raise InputError(
            f"ADC map holds {values.size - finite.size} NaN or infinite voxels",
            fix="mark voxels that were not fitted with 0, as pipeline.diffusion does",
        )
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="ADC",
        lut_explanation="Apparent diffusion coefficient (um2/s); 0 = not fitted",
        unit=UNIT_ADC,
        value_range=(low, max(high, low + 1.0)),
        slope=1.0,
        intercept=0.0,
        quantity_definition=codes.DCM.ApparentDiffusionCoefficient,
    )
    pmap = hd.pm.ParametricMap(
        source_images=list(refs.datasets),
        pixel_array=values.astype(np.float32),
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER_PMAP,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=SOFTWARE_NAME,
        software_versions=SOFTWARE_VERSION,
        device_serial_number=DEVICE_SERIAL_NUMBER,
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[
            hd.VOILUTTransformation(window_center=WINDOW_CENTER, window_width=WINDOW_WIDTH)
        ],
        content_label="CCR_ADC",
        content_qualification=hd.ContentQualificationValues.RESEARCH,
        series_description=f"{SOFTWARE_NAME} ADC um2/s (research use only)",
    )
    pmap.BodyPartExamined = "RECTUM"  # unpaired: no Laterality (General Series, Type 2C)
    add_research_statement(pmap)
    return pmap
