"""Train radiomics-v1 and segnet-v2 on a phantom cohort (cached under /tmp) into models/.

.venv/bin/python scripts/train_scorers.py --cache /tmp/ccr_cache/train --out models
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from pipeline.training import train_network, train_radiomics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ccr_cache/train"))
    parser.add_argument("--out", type=Path, default=Path("models"))
    parser.add_argument("--cases", type=int, default=216)
    parser.add_argument("--seed", type=int, default=1001)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--patience", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["radiomics", "network"], default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    common = {"cache": args.cache, "cases": args.cases, "seed": args.seed}
    if args.only in (None, "radiomics"):
        train_radiomics(args.out, **common)
    if args.only in (None, "network"):
        train_network(args.out, max_epochs=args.epochs, patience=args.patience, **common)


if __name__ == "__main__":
    main()
