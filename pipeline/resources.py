"""Where shipped configs, weights and schemas live, in a source checkout and when installed.

The repository keeps ``configs/`` and ``models/`` at its top level. A wheel built from it
carries copies in ``pipeline/_resources/``; this module looks there first.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the directory of a shipped resource kind (``"configs"`` or ``"models"``).

    Raises
    ------
    FileNotFoundError
        If neither the installed copy nor the source-tree directory exists.
    """
    for candidate in (_PACKAGE_DIR / "_resources" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"shipped resource directory {name!r} not found next to {_PACKAGE_DIR}; "
        "reinstall ccr-pipeline (pip install .) or run from a source checkout"
    )


def configs_dir() -> Path:
    return resource_dir("configs")


def models_dir() -> Path:
    return resource_dir("models")


def schemas_dir() -> Path:
    return _PACKAGE_DIR / "schemas"


def samples_dir() -> Path:
    return resource_dir("data_samples")
