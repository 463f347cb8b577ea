"""DICOM ingestion that survives real scanners.

Public surface
--------------
:func:`scan`
    Crawl a tree (any layout, DICOMDIR, ``.dcm.gz``), read headers only, group by study and
    series (split where a series mixes orientations or image kinds), classify with
    ``configs/series_rules.yaml`` and read b-values per vendor -> :class:`Inventory`.
:func:`load_study`
    One study with pixel volumes for the asked roles and its RTSTRUCT / SEG masks.
:func:`load_series_volume`
    The pixel volume of one scanned series (DWI: ``[b, z, y, x]`` sorted by b).
:func:`read_mask_file`
    A NIfTI / NRRD / MHA mask resampled (nearest neighbour) onto a reference grid.

Geometry follows :mod:`pipeline.volume`: arrays ``[z, y, x]``, spacing/origin/direction in
ITK ``(x, y, z)`` order, LPS mm; slices sorted along the slice normal, never by InstanceNumber.
"""

from __future__ import annotations

from pipeline.ingest._api import Inventory, load_series_volume, load_study, scan
from pipeline.ingest._seg import read_mask_file

__all__ = ["Inventory", "load_series_volume", "load_study", "read_mask_file", "scan"]
