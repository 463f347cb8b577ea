"""The join-key choice, kept free of heavy imports: the CLI needs it at import time."""

from __future__ import annotations

from enum import Enum


class JoinKey(str, Enum):
    """Column that joins the labels to the batch results."""

    AUTO = "auto"
    STUDY_KEY = "study_key"
    INPUT = "input"
