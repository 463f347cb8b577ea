"""Base model of every config schema: frozen, no unknown keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """Immutable pydantic model that rejects unknown keys (typos fail loudly)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)
