"""Schema of ``configs/radiomics.yaml``: pyradiomics settings per image type."""

from __future__ import annotations

from enum import Enum

from pydantic import Field, model_validator

from pipeline.config._base import FrozenModel


class FeatureClass(str, Enum):
    FIRSTORDER = "firstorder"
    SHAPE = "shape"
    GLCM = "glcm"
    GLRLM = "glrlm"
    GLSZM = "glszm"
    GLDM = "gldm"
    NGTDM = "ngtdm"


class ImageSettings(FrozenModel):
    """Discretisation of one image type: a fixed bin width (for quantitative maps such as
    ADC) or a fixed bin count (for images in arbitrary units such as T2W)."""

    bin_width: float | None = Field(default=None, gt=0)
    bin_count: int | None = Field(default=None, ge=4, le=512)
    normalize: bool = False

    @model_validator(mode="after")
    def _one_discretisation(self) -> ImageSettings:
        if (self.bin_width is None) == (self.bin_count is None):
            raise ValueError("give exactly one of bin_width or bin_count")
        return self


class RadiomicsConfig(FrozenModel):
    images: dict[str, ImageSettings] = Field(min_length=1)
    feature_classes: tuple[FeatureClass, ...] = Field(min_length=1)
    resampled_spacing_mm: tuple[float, float, float] | None = None
    min_roi_voxels: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _known_images(self) -> RadiomicsConfig:
        unknown = set(self.images) - {"t2w", "adc", "high_b"}
        if unknown:
            raise ValueError(f"unknown image types {sorted(unknown)}; valid: adc, high_b, t2w")
        if "adc" in self.images and self.images["adc"].normalize:
            raise ValueError("ADC is quantitative: images.adc.normalize must be false")
        return self
