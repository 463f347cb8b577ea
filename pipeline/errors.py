"""The project's exception hierarchy.

Every error says where (file, series, tag), what was found, what was expected and how to fix
it. The CLI maps :class:`InputError` to exit code 1 and any other :class:`PipelineError` to 2.
"""

from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base class of every error raised by ccr-pipeline on purpose."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        series: str | None = None,
        tag: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.series = series
        self.tag = tag
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.series:
            where.append(f"series {self.series}")
        if self.tag:
            where.append(f"tag {self.tag}")
        text = self.message
        if where:
            text = f"{', '.join(where)}: {text}"
        if self.fix:
            text = f"{text} Fix: {self.fix}"
        return text


class InputError(PipelineError, ValueError):
    """The input cannot be used as it is (missing file, malformed DICOM, bad clinical form)."""


class DicomError(InputError):
    """A DICOM file or series is malformed or lacks a tag that cannot be done without."""


class GeometryError(InputError):
    """Image geometry is inconsistent (spacing, orientation, missing slices, grids that differ)."""


class ConfigError(InputError):
    """A configuration file does not match its schema."""


class ClinicalInputError(InputError):
    """The clinical input form (DRE, endoscopy, ...) is malformed."""


class ProcessingError(PipelineError, RuntimeError):
    """A stage failed on input that looked valid (registration diverged, fit failed, ...)."""


class RegistrationError(ProcessingError):
    """Registration failed or produced an implausible transform."""


class ModelError(ProcessingError):
    """Model weights are missing, corrupt or do not match the network definition."""


class DeviceError(ProcessingError):
    """The requested compute device (e.g. CUDA) is not available."""
