"""Loading and merging of YAML configuration sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from pipeline.config._base import FrozenModel
from pipeline.config.decision import DecisionConfig
from pipeline.config.diffusion import DiffusionConfig
from pipeline.config.radiomics import RadiomicsConfig
from pipeline.config.registration import RegistrationConfig
from pipeline.config.scoring import ScoringConfig
from pipeline.config.series_rules import SeriesRulesConfig
from pipeline.errors import ConfigError
from pipeline.resources import configs_dir

#: Section name (= shipped file ``configs/<name>.yaml``) -> schema.
SCHEMAS: dict[str, type[FrozenModel]] = {
    "series_rules": SeriesRulesConfig,
    "registration": RegistrationConfig,
    "diffusion": DiffusionConfig,
    "scoring": ScoringConfig,
    "radiomics": RadiomicsConfig,
    "decision": DecisionConfig,
}

M = TypeVar("M", bound=FrozenModel)


class PipelineConfig(FrozenModel):
    """All sections, resolved. Passed explicitly to the stages that need them."""

    series_rules: SeriesRulesConfig
    registration: RegistrationConfig
    diffusion: DiffusionConfig
    scoring: ScoringConfig
    radiomics: RadiomicsConfig
    decision: DecisionConfig


def shipped_config_path(name: str) -> Path:
    if name not in SCHEMAS:
        raise ConfigError(f"unknown config section {name!r}; valid: {', '.join(sorted(SCHEMAS))}")
    return configs_dir() / f"{name}.yaml"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("config file not found", file=path) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"top level must be a mapping, got {type(data).__name__}", file=path)
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validate(schema: type[M], data: dict[str, Any], path: Path) -> M:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"does not match the {schema.__name__} schema: {problems}", file=path
        ) from exc


def load_section(name: str, override: Path | None = None) -> FrozenModel:
    """Load one shipped section, with keys from ``override`` (a YAML file) on top."""
    path = shipped_config_path(name)
    data = _read_yaml(path)
    if override is not None:
        data = _deep_merge(data, _read_yaml(override))
        path = override
    return _validate(SCHEMAS[name], data, path)


def load_config(override: Path | None = None) -> PipelineConfig:
    """Load every section; ``override`` is a YAML file with top-level section names as keys."""
    user: dict[str, Any] = _read_yaml(override) if override is not None else {}
    unknown = set(user) - set(SCHEMAS)
    if unknown:
        raise ConfigError(
            f"unknown section(s) {sorted(unknown)}; valid: {', '.join(sorted(SCHEMAS))}",
            file=override,
        )
    sections: dict[str, FrozenModel] = {}
    for name, schema in SCHEMAS.items():
        path = shipped_config_path(name)
        data = _read_yaml(path)
        if name in user:
            data = _deep_merge(data, user[name])
            path = override if override is not None else path
        sections[name] = _validate(schema, data, path)
    return PipelineConfig.model_validate(sections)
