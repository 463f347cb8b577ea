from __future__ import annotations

import pytest

from pipeline.device import DeviceChoice, cuda_available, resolve_device
from pipeline.errors import DeviceError


def test_cpu_is_always_cpu() -> None:
    assert resolve_device(DeviceChoice.CPU) == "cpu"


def test_auto_follows_cuda_availability() -> None:
    assert resolve_device(DeviceChoice.AUTO) == ("cuda" if cuda_available() else "cpu")


def test_cuda_without_gpu_is_a_clear_error() -> None:
    if cuda_available():
        assert resolve_device(DeviceChoice.CUDA) == "cuda"
        return
    with pytest.raises(DeviceError, match=r"no CUDA device.*--device auto or cpu"):
        resolve_device(DeviceChoice.CUDA)
