"""Build hook: ship the top-level ``configs/`` and ``models/`` inside the wheel.

The repository keeps configs and weights at the top level (the design card's layout). A
non-editable ``pip install .`` copies them into ``pipeline/_resources/`` of the installed
package; :mod:`pipeline.resources` looks there first and falls back to the source tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("configs", "models", "data_samples")


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "pipeline" / "_resources"
        for name in SHIPPED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithResources})
