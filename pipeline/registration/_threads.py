"""Scoped ITK thread count: exact repeats need every filter (pyramid smoothing too) on the
same number of threads, and only the process-wide default reaches them all.

The previous default is restored on exit, so nothing leaks out of the call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import SimpleITK as sitk


@contextmanager
def itk_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` ITK threads (0 = leave the default as it is)."""
    if threads <= 0:
        yield
        return
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)
