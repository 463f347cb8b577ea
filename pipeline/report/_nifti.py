"""NIfTI output of volumes (SimpleITK handles the LPS -> RAS conversion of the header)."""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk

from pipeline._io import atomic_path
from pipeline.volume import Volume

#: Written into the NIfTI header's 80-character ``descrip`` field of every map.
NIFTI_NOTE = "ccr-pipeline: Research use only. Not a medical device."


def write_nifti(volume: Volume, target: Path) -> Path:
    """Write a 3-D volume as ``.nii.gz`` atomically; 4-D volumes as one 4-D NIfTI.

    The header's ``descrip`` carries the research-use statement.
    """
    if volume.array.ndim == 4:
        image = sitk.JoinSeries([volume.to_sitk(channel=i) for i in range(volume.n_channels)])
    else:
        image = volume.to_sitk()
    image.SetMetaData("ITK_FileNotes", NIFTI_NOTE)
    with atomic_path(target) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)
    return target
