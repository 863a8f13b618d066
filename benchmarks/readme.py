"""Writes benchmark tables into README.md between `<!-- bench:NAME -->` markers."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def update_readme(name: str, markdown: str, readme: Path = README) -> None:
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = readme.read_text(encoding="utf-8")
    block = f"{start}\n{markdown.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")


def add_readme_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-readme", action="store_true", help="Do not update README.md.")


def publish(name: str, markdown: str, args: argparse.Namespace) -> int:
    """The benchmark's table printed and, unless `--no-readme`, written into README.md's
    `bench:NAME` block; the exit status of the benchmark's `main`."""
    print(markdown)
    if not args.no_readme:
        update_readme(name, markdown)
    return 0
