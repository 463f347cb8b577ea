"""Configuration as data: ``configs/<name>.yaml`` -> pydantic schema -> frozen object.

Every shipped YAML has a schema in this package; :data:`SCHEMAS` is the one registry.
Load one section with :func:`load_section`, all of them with :func:`load_config`; a user file
(``--config my.yaml``) overrides the shipped defaults section by section, key by key.
"""

from __future__ import annotations

from pipeline.config._base import FrozenModel
from pipeline.config._loader import (
    SCHEMAS,
    PipelineConfig,
    load_config,
    load_section,
    shipped_config_path,
)

__all__ = [
    "SCHEMAS",
    "FrozenModel",
    "PipelineConfig",
    "load_config",
    "load_section",
    "shipped_config_path",
]
