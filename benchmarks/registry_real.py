"""Registry benchmark on real camera photos: are real re-photos of registered pages found?

    python -m benchmarks.registry_real [--data ../shared/real/inv3d-dev] [--workers 2]

The data is Inv3DReal's layout (see `shared/real/README.md`): one folder per printed page with
its flat original `flat_document.png`, real phone photos `warped_document_<condition>_<light>.jpg`
and `template.json` naming the page's template. Every original is registered in a dedicated
embedded Redis, then every photo is scanned with `Scanner(config, known=registry)` in worker
processes, as `benchmarks.registry` does for the generated corpus. Measured: top-1 accuracy by
condition and by light, and false matches: a photo named as another registered page, split into
same-template siblings (pages that share layout, headings and logo) and unrelated pages. Writes
a table into README.md (`registry-real`), the results to benchmarks/out/registry-real.json and the
failures to benchmarks/out/registry-real-failures.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.readme import update_readme
from benchmarks.registry import OUT, ScanResult, register_all, scan_all
from bot.redis_server import REDIS_URL_ENV, connect, stop_embedded
from bot.registry import Registry
from detectors import load_config
from tests.corpus.registry import RegistryItem

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "real" / "inv3d-dev"
_PHOTO = re.compile(r"warped_document_(?P<condition>[a-z]+)_(?P<light>[a-z]+)\.jpg$")
CONDITIONS = ("perspective", "curled", "fewfold", "multifold", "crumpleseasy", "crumpleshard")


def load_items(data: Path) -> list[RegistryItem]:
    """Originals (role `original`) and photos (role `capture`) of every page folder in `data`;
    a page's family is its template, so pages of one template are each other's siblings."""
    templates: dict[str, int] = {}
    items: list[RegistryItem] = []
    for folder in sorted(p for p in data.iterdir() if (p / "flat_document.png").is_file()):
        template = json.loads((folder / "template.json").read_text(encoding="utf-8"))["template"]
        family = templates.setdefault(template, len(templates))
        page_id = folder.name
        items.append(
            RegistryItem(
                f"{page_id}/flat_document.png", "original", "png", page_id, 1, page_id, family
            )
        )
        for photo in sorted(folder.glob("warped_document_*.jpg")):
            match = _PHOTO.search(photo.name)
            if match is None:
                continue
            items.append(
                RegistryItem(
                    f"{page_id}/{photo.name}",
                    "capture",
                    match["condition"],
                    page_id,
                    1,
                    family=family,
                    facts={"light": match["light"], "template": template},
                )
            )
    return items


def measure(results: list[ScanResult], families: dict[str, int | None]) -> dict[str, Any]:
    """Top-1 by condition and light; wrong matches split by whether the page named shares the
    photo's template."""

    def table(key: str, values: list[str]) -> dict[str, dict[str, int]]:
        out = {}
        for value in values:
            part = [r for r in results if _field(r, key) == value]
            out[value] = {"n": len(part), "found": sum(r.correct for r in part)}
        return out

    wrong = [r for r in results if r.got is not None and not r.correct]
    sibling = [r for r in wrong if families.get(r.got or "") == r.family]
    conditions = [c for c in CONDITIONS if any(r.kind == c for r in results)]
    lights = sorted({_field(r, "light") for r in results})
    return {
        "n": len(results),
        "found": sum(r.correct for r in results),
        "missed": sum(r.got is None for r in results),
        "by_condition": table("kind", conditions),
        "by_light": table("light", lights),
        "false_matches_sibling": len(sibling),
        "false_matches_unrelated": len(wrong) - len(sibling),
        "methods": dict(Counter("+".join(sorted(r.methods)) for r in results if r.correct)),
        "errors": [f"{r.path}: {r.error}" for r in results if r.error],
    }


def _field(result: ScanResult, key: str) -> str:
    return result.kind if key == "kind" else result.source


def render_markdown(summary: dict[str, Any]) -> str:
    m = summary["measures"]
    lines = [
        f"Data: `{summary['data']}`, {summary['pages']} real printed pages of "
        f"{summary['templates']} templates registered from their flat originals, {m['n']} real "
        "phone photos of them scanned (Inv3DReal, MIT; `python -m benchmarks.registry_real`).",
        "",
        "| condition | photos | found (top-1 right page) |",
        "|---|---|---|",
    ]
    for name, row in [*m["by_condition"].items(), *m["by_light"].items()]:
        lines.append(f"| {name} | {row['n']} | {row['found']}/{row['n']} = {_share(row)} |")
    lines.append(f"| **all** | {m['n']} | {m['found']}/{m['n']} = {_share(m)} |")
    lines += [
        "",
        f"False matches: {m['false_matches_sibling']} on same-template siblings, "
        f"{m['false_matches_unrelated']} on unrelated pages; {m['missed']} photos matched nothing.",
    ]
    return "\n".join(lines)


def _share(row: dict[str, Any]) -> str:
    return f"{row['found'] / row['n']:.3f}" if row["n"] else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", help="scan only photos whose path contains this")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args(argv)

    items = load_items(args.data)
    for item in items:
        if item.role == "capture":
            item.facts["source"] = item.facts["light"]
    originals = [i for i in items if i.role == "original"]
    photos = [i for i in items if i.role == "capture" and (args.only or "") in i.path]
    config = load_config()
    os.environ.pop(REDIS_URL_ENV, None)  # a dedicated embedded server, never a shared one
    with tempfile.TemporaryDirectory(prefix="leaksentry-registry-real-") as tmp:
        redis_dir = Path(tmp) / "redis"
        try:
            registry = Registry(connect(redis_dir), config)
            register = register_all(registry, config, args.data, originals)
            print(json.dumps({"register": register}, ensure_ascii=False), flush=True)
            results, wall = scan_all(redis_dir, config, args.data, photos, args.workers)
        finally:
            stop_embedded(redis_dir)
    families = {i.doc_id or "": i.family for i in originals}
    summary = {
        "data": str(args.data.name),
        "pages": len(originals),
        "templates": len(set(families.values())),
        "scan_wall_s": round(wall, 1),
        "register": register,
        "measures": measure(results, families),
        "results": [asdict(r) for r in results],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "registry-real.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    failed = [
        f"{r.path}: got {r.got} (score {r.score}, methods {r.methods})"
        for r in results
        if not r.correct
    ]
    (OUT / "registry-real-failures.txt").write_text("\n".join(failed) + "\n")
    print(json.dumps(summary["measures"], ensure_ascii=False, indent=1))
    if not (args.no_readme or args.only):
        update_readme("registry-real", render_markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
