"""Where training cases come from: an existing cache, a user's labelled data, or phantoms."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import InputError
from pipeline.training._cohort import prepare_phantom_cohort, prepare_user_cohort

log = logging.getLogger(__name__)

_CACHED = re.compile(r"^[^.]+\.npz$")


def cached_cases(cache: Path) -> list[Path]:
    """The complete cached cases in ``cache`` (``<case_id>.npz``), sorted by name."""
    return sorted(p for p in Path(cache).glob("*.npz") if _CACHED.match(p.name))


def training_cases(
    out_dir: Path,
    *,
    cache: Path | None,
    labelled: Path | None,
    cases: int,
    seed: int,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Cached cases to train on.

    ``cache``: a folder of cached cases (made by an earlier run; reused as is, filled with a
    phantom cohort when empty); ``labelled``: a user's data set in the layout of
    :func:`pipeline.training.prepare_user_cohort` (cached under ``out_dir/cache``); neither:
    a phantom cohort of ``cases`` cases from ``seed`` generated under ``out_dir/cache``.
    """
    if cache is not None and labelled is not None:
        raise InputError("give a cache folder or a labelled data set, not both")
    if labelled is not None:
        paths = prepare_user_cohort(Path(labelled), Path(out_dir) / "cache")
    else:
        folder = Path(cache) if cache is not None else Path(out_dir) / "cache"
        paths = cached_cases(folder)
        if not paths:
            log.info("generating a phantom cohort of %d cases (seed %d) in %s", cases, seed, folder)
            paths = prepare_phantom_cohort(
                folder, cases=cases, seed=seed, workers=workers, progress=progress
            )
    if len(paths) < 10:
        raise InputError(
            f"only {len(paths)} training case(s) found; at least 10 are needed",
            fix="generate more phantom cases (--cases) or add labelled studies",
        )
    return paths
