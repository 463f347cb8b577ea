"""Write the reference labels of a ``ccr phantom`` folder as a labels CSV for ``ccr evaluate``.

Each ``<folder>/<case>/truth.json`` gives one row, keyed by ``input`` = the case folder name
(the name ``ccr batch`` records for a folder of phantom cases)::

    input,residual,reference_outcome
    case-000,0,cCR
    case-002,1,incomplete

``residual`` is truth.json's ``residual_tumour`` (1/0) and ``reference_outcome`` its
``expected_decision``. Usage::

    .venv/bin/python scripts/phantom_labels.py PHANTOM_DIR --out labels.csv

``ccr evaluate RESULTS --labels PHANTOM_DIR`` reads the same truth directly (and writes this
CSV into its output folder). Research use only, not a medical device.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline._io import write_text
from pipeline.errors import InputError
from pipeline.evaluate import labels_to_csv, phantom_labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phantom_dir", type=Path, help="folder written by 'ccr phantom OUT'")
    parser.add_argument("--out", type=Path, required=True, help="labels CSV to write")
    args = parser.parse_args(argv)
    try:
        table = phantom_labels(args.phantom_dir)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_text(args.out, labels_to_csv(table))
    residual = sum(1 for row in table.rows if row.residual)
    print(f"{len(table.rows)} labels ({residual} residual) written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
