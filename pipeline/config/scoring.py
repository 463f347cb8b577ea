"""Schema of ``configs/scoring.yaml``: how the tumour bed is turned into imaging findings."""

from __future__ import annotations

from pydantic import Field

from pipeline.config._base import FrozenModel


class RestrictionConfig(FrozenModel):
    """A voxel restricts when it is bright on high-b AND dark on ADC."""

    adc_max: float = Field(default=1.15, gt=0, description="1e-3 mm^2/s")
    adc_min: float = Field(
        default=0.3, ge=0, description="1e-3 mm^2/s; lower values are fit noise, not tissue"
    )
    highb_ratio_min: float = Field(
        default=1.4, gt=0, description="high-b signal / reference high-b of the ring around the bed"
    )
    reference_percentile: float = Field(
        default=90.0,
        gt=0,
        le=100,
        description="percentile of the ring's high-b (rectal wall level)",
    )
    smoothing_mm: float = Field(
        default=1.2, ge=0, description="in-plane Gaussian sigma applied to ADC and high-b first"
    )
    shine_through_adc_min: float = Field(default=1.5, gt=0, description="1e-3 mm^2/s")
    min_cluster_mm3: float = Field(
        default=60.0, ge=0, description="smaller clusters are below what DWI resolves (noise)"
    )
    reference_ring_mm: tuple[float, float] = (3.0, 12.0)


class T2SignalConfig(FrozenModel):
    """T2 signal of the bed relative to the surrounding mesorectal fat."""

    intermediate_min: float = Field(default=0.38, gt=0, lt=1)
    bright_min: float = Field(default=0.68, gt=0, lt=1.5)
    reference_ring_mm: tuple[float, float] = (6.0, 20.0)


class RuleScoreConfig(FrozenModel):
    """Logistic link from restricted volume (mm^3) to P(residual tumour)."""

    midpoint_mm3: float = Field(default=60.0, gt=0)
    scale_mm3: float = Field(default=20.0, gt=0)


class FusionWeights(FrozenModel):
    """Weights of each scorer's logit in the fused P(residual) (normalised to sum 1)."""

    radiomics: float = Field(default=0.5, ge=0)
    network: float = Field(default=0.5, ge=0)


class LearnedScoringConfig(FrozenModel):
    """The radiomics classifier, the MONAI network and their fusion."""

    enabled: bool = Field(default=True, description="false: rules-v1 gives P(residual) alone")
    radiomics_model: str = Field(
        default="radiomics-v1.json", description="JSON under models/ (or an absolute path)"
    )
    network_model: str = Field(
        default="segnet-v2.json", description="weights card JSON under models/ (or absolute)"
    )
    search_bed: bool = Field(
        default=True,
        description="no bed mask given or propagated: the network searches the T2W field of view",
    )
    search_min_volume_mm3: float = Field(
        default=200.0, gt=0, description="smallest tumour bed the network search accepts"
    )
    fusion: FusionWeights = FusionWeights()
    test_time_flips: bool = Field(default=True, description="TTA flips give the uncertainty")
    mixed_precision: bool = Field(default=True, description="float16 autocast on CUDA only")


class ScoringConfig(FrozenModel):
    learned: LearnedScoringConfig = LearnedScoringConfig()
    restriction: RestrictionConfig = RestrictionConfig()
    t2: T2SignalConfig = T2SignalConfig()
    rule_score: RuleScoreConfig = RuleScoreConfig()
    roi_margin_mm: float = Field(default=2.0, ge=0, description="dilation of the tumour bed")
