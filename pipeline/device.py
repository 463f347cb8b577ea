"""Compute-device choice (``--device auto|cpu|cuda``), resolved explicitly, never silently."""

from __future__ import annotations

from enum import Enum

from pipeline.errors import DeviceError


class DeviceChoice(str, Enum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


def nvidia_driver_present() -> bool:
    """Cheap check (no torch import) for an NVIDIA driver on this machine."""
    import shutil
    from pathlib import Path

    return Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi") is not None


def cuda_available() -> bool:
    """True when PyTorch sees a CUDA device. Imports torch only where a driver exists."""
    if not nvidia_driver_present():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(choice: DeviceChoice) -> str:
    """``"cpu"`` or ``"cuda"``; ``cuda`` without a usable GPU raises :class:`DeviceError`."""
    if choice is DeviceChoice.CPU:
        return "cpu"
    available = cuda_available()
    if choice is DeviceChoice.CUDA and not available:
        raise DeviceError(
            "--device cuda was asked for, but PyTorch sees no CUDA device",
            fix="use --device auto or cpu, or install a CUDA build of torch on a GPU machine",
        )
    return "cuda" if available else "cpu"
