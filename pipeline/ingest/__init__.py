"""DICOM ingestion that survives real scanners, and public NIfTI/MHA data set layouts.

Public surface
--------------
:func:`scan`
    Crawl a tree (any layout, DICOMDIR, ``.dcm.gz``), read headers only, group by study and
    series (split where a series mixes orientations or image kinds), classify with
    ``configs/series_rules.yaml`` and read b-values per vendor -> :class:`Inventory` (with the
    header geometry of each series). A folder without DICOM is read as a NIfTI/MHA layout.
:func:`load_study`
    One study with pixel volumes for the asked roles and its RTSTRUCT / SEG / mask-file masks.
:func:`load_scanned_study`
    The same for a study of an :class:`Inventory`, without crawling again.
:func:`load_series_volume`
    The pixel volume of one scanned series (DWI: ``[b, z, y, x]`` sorted by b).
:func:`read_mask_file`
    A NIfTI / NRRD / MHA mask resampled (nearest neighbour) onto a reference grid.
:func:`inventory_to_dict`, :func:`render_inventory`
    ``ccr inspect``: the inventory as a stable JSON-ready dict and as a rich table.
:func:`convert_tree`
    ``ccr convert``: every series to ``DIR/<study key>/<series_number>_<role>.nii.gz`` (+ ``.bval``,
    JSON sidecar) and masks to ``<series_number>_mask_<roi>.nii.gz`` -> :class:`ConvertReport`.
:func:`find_layout_cases`
    The non-DICOM layout of a folder (``nifti``, ``nnunet``, ``picai``) and its cases.

Geometry follows :mod:`pipeline.volume`: arrays ``[z, y, x]``, spacing/origin/direction in
ITK ``(x, y, z)`` order, LPS mm; slices sorted along the slice normal, never by InstanceNumber.
"""

from __future__ import annotations

from pipeline.ingest._api import load_scanned_study, load_series_volume, load_study, scan
from pipeline.ingest._convert import ConvertFailure, ConvertReport, convert_tree
from pipeline.ingest._inventory import inventory_to_dict, render_inventory
from pipeline.ingest._layouts import LayoutCase, find_layout_cases
from pipeline.ingest._model import Inventory, SeriesGeometry
from pipeline.ingest._seg import read_mask_file

__all__ = [
    "ConvertFailure",
    "ConvertReport",
    "Inventory",
    "LayoutCase",
    "SeriesGeometry",
    "convert_tree",
    "find_layout_cases",
    "inventory_to_dict",
    "load_scanned_study",
    "load_series_volume",
    "load_study",
    "read_mask_file",
    "render_inventory",
    "scan",
]
