"""python -m tests.corpus OUT_DIR --seed 7 --positives 220 --negatives 160 [--no-files]
[--megapixels 12] [--workers N]"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path

from tests.corpus import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.corpus", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--positives", type=int, default=220)
    parser.add_argument("--negatives", type=int, default=160)
    parser.add_argument("--no-files", action="store_true", help="skip PDF/DOCX/OFD/... files")
    parser.add_argument(
        "--megapixels",
        type=float,
        default=None,
        help="photo size, e.g. 12 for 4000x3000 (default: a mix up to 3 MP)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="processes; the output does not depend on it",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    items = generate(
        args.out_dir,
        seed=args.seed,
        positives=args.positives,
        negatives=args.negatives,
        files=not args.no_files,
        photo_megapixels=args.megapixels,
        workers=args.workers,
    )
    elapsed = time.perf_counter() - start
    categories = Counter(item.category for item in items)
    kinds = Counter(item.kind for item in items)
    print(
        f"{len(items)} items in {elapsed:.1f} s ({elapsed / max(1, len(items)):.2f} s/item) "
        f"-> {args.out_dir}"
    )
    print("categories:", dict(sorted(categories.items())))
    print("kinds:", dict(sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
