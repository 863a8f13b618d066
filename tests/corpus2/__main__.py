"""python -m tests.corpus2 OUT_DIR --seed 11 [--positives 200] [--negatives 100] [--fonts DIR]"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from tests.corpus2 import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.corpus2", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--positives", type=int, default=200)
    parser.add_argument("--negatives", type=int, default=100)
    parser.add_argument("--fonts", type=Path, default=None, help="folder with the Fandol fonts")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    items = generate(
        args.out_dir,
        seed=args.seed,
        positives=args.positives,
        negatives=args.negatives,
        fonts=args.fonts,
    )
    elapsed = time.perf_counter() - start
    print(f"{len(items)} items in {elapsed:.1f} s -> {args.out_dir}")
    print("categories:", dict(sorted(Counter(i.category for i in items).items())))
    print("scenes:", dict(sorted(Counter(i.kind for i in items).items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
