"""ccr-pipeline: MRI response assessment of rectal cancer after neoadjuvant therapy.

Research use only, not a medical device.
"""

from __future__ import annotations

__version__ = "0.1.0"

RESEARCH_USE_STATEMENT = (
    "Research use only. Not a medical device. Not for clinical decision making."
)

__all__ = ["RESEARCH_USE_STATEMENT", "__version__"]
