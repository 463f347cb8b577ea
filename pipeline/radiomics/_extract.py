"""pyradiomics feature extraction on T2W, ADC and high-b inside one mask."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk

from pipeline.config.radiomics import ImageSettings, RadiomicsConfig
from pipeline.errors import GeometryError, InputError
from pipeline.volume import Volume

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureRow:
    """One study's features, named ``<image>_<class>_<feature>``, and pyradiomics diagnostics."""

    features: dict[str, float]
    diagnostics: dict[str, Any] = field(default_factory=dict)


def _settings(image: ImageSettings, config: RadiomicsConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {"label": 1, "normalize": image.normalize, "force2D": False}
    if image.bin_width is not None:
        settings["binWidth"] = image.bin_width
    else:
        settings["binCount"] = image.bin_count
    if config.resampled_spacing_mm is not None:
        settings["resampledPixelSpacing"] = list(config.resampled_spacing_mm)
    return settings


def extract_features(
    images: dict[str, Volume], mask: Volume, *, config: RadiomicsConfig
) -> FeatureRow:
    """Extract the configured feature classes from each configured image inside ``mask``.

    Parameters
    ----------
    images
        ``{"t2w": ..., "adc": ..., "high_b": ...}`` on one grid (the restaging T2W grid);
        image types missing here are skipped, with a diagnostic.
    mask
        Label volume on the same grid; voxels > 0 are the ROI.
    """
    from radiomics import featureextractor

    roi = (mask.array > 0).astype(np.uint8)
    if int(roi.sum()) < config.min_roi_voxels:
        raise InputError(
            f"radiomics: ROI has {int(roi.sum())} voxels, fewer than {config.min_roi_voxels}"
        )
    mask_image = mask.with_array(roi).to_sitk()
    features: dict[str, float] = {}
    diagnostics: dict[str, Any] = {"skipped_images": []}
    shape_done = False
    for name, settings in config.images.items():
        volume = images.get(name)
        if volume is None:
            diagnostics["skipped_images"].append(name)
            continue
        mask.require_same_grid(volume, what=f"radiomics: mask vs {name}")
        extractor = featureextractor.RadiomicsFeatureExtractor(**_settings(settings, config))
        extractor.disableAllFeatures()
        classes = [
            c.value for c in config.feature_classes if not (shape_done and c.value == "shape")
        ]
        extractor.enableFeaturesByName(**{c: [] for c in classes})
        image = sitk.Cast(volume.to_sitk(), sitk.sitkFloat32)
        try:
            result = extractor.execute(image, mask_image)
        except (ValueError, RuntimeError) as exc:
            raise GeometryError(f"radiomics on {name} failed: {exc}") from exc
        for key, value in result.items():
            if key.startswith("diagnostics_"):
                if key in (
                    "diagnostics_Versions_PyRadiomics",
                    "diagnostics_Mask-original_VoxelNum",
                ):
                    diagnostics[f"{name}_{key}"] = str(value)
                continue
            short = key.removeprefix("original_")
            features[short if short.startswith("shape_") else f"{name}_{short}"] = float(value)
        shape_done = True
    log.info("radiomics: %d features", len(features))
    return FeatureRow(features=features, diagnostics=diagnostics)
