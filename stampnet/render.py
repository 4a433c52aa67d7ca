"""Markdown blocks rendered from results files.

A block is everything between ``<!-- KIND: ARG -->`` and ``<!-- /KIND -->``; rendering replaces it with what the
renderer of KIND makes of ARG and keeps the rest of the document. The kinds of :func:`renderers`:

- ``record: results/docs/NAME.csv``: the CSV file as a markdown table (the header row names the columns, cells
  verbatim);
- ``roofline: results/bench/NAME.json``: the table of a ``python -m stampnet.bench.roofline --save`` record;
- ``results: RECIPE``: the README's results block from ``results/RECIPE/`` and ``results/2019/``.

``python -m stampnet.table --render`` renders every block of README.md and docs/*.md.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Callable, Mapping, Optional

from stampnet import ConfigError

Renderers = Mapping[str, Callable[[str], str]]
START = re.compile(r"^<!-- ([a-z][a-z0-9_-]*): (\S+) -->$\n?", re.M)  # a marker is a line of its own


def render_text(text: str, renderers: Renderers, source: str = "the document") -> str:
    """``text`` with every block rewritten by the renderer of its kind; one ConfigError for an unknown kind, a
    block without its end marker or a renderer's missing file."""
    out, pos = [], 0
    for start in START.finditer(text):
        if start.start() < pos:
            continue  # a start marker inside a block just rendered: its content, not a block
        kind, arg = start[1], start[2]
        end = re.compile(f"^<!-- /{kind} -->$", re.M).search(text, start.end())
        if end is None:
            raise ConfigError(f"{source}: <!-- {kind}: {arg} --> has no <!-- /{kind} --> after it; add the end marker")
        if kind not in renderers:
            raise ConfigError(f"{source}: unknown block kind {kind!r} in <!-- {kind}: {arg} -->; known kinds: "
                              f"{', '.join(sorted(renderers))}")
        try:
            body = renderers[kind](arg)
        except FileNotFoundError as err:
            raise ConfigError(f"{source}: <!-- {kind}: {arg} --> names a file that does not exist "
                              f"({err.filename}); fix the path or write the file") from None
        out += [text[pos:start.start()], f"<!-- {kind}: {arg} -->\n", body.rstrip("\n"), "\n"]
        pos = end.start()
    return "".join(out) + text[pos:]


def csv_table(path: Path) -> str:
    """A CSV file as a markdown table: its first row the header, every cell as written."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ConfigError(f"{path} is empty; a record needs a header row of column names")
    for n, row in enumerate(rows[1:], 2):
        if len(row) != len(rows[0]):
            raise ConfigError(f"{path}, line {n}: {len(row)} cells under a header of {len(rows[0])}")

    def line(cells):
        return "|" + "".join(f" {c} |" if c else " |" for c in cells)

    return "\n".join([line(rows[0]), "|" + "---|" * len(rows[0])] + [line(r) for r in rows[1:]])


def renderers(root: Path, results: Optional[Path] = None) -> dict[str, Callable[[str], str]]:
    """The kinds a document may hold; file paths are read from ``root``, the results block from ``results``
    (default ``root/results``)."""
    import json

    results = Path(results) if results is not None else Path(root) / "results"

    def roofline(arg: str) -> str:
        from stampnet.bench.roofline import table

        return table(json.loads((Path(root) / arg).read_text()))

    def results_block(recipe: str) -> str:
        from stampnet.table.render import readme_block

        return readme_block(results, recipe)

    return {"record": lambda arg: csv_table(Path(root) / arg), "roofline": roofline, "results": results_block}


def documents(root: Path) -> list[Path]:
    """The documents whose blocks are rendered: README.md and docs/*.md."""
    return [Path(root) / "README.md", *sorted((Path(root) / "docs").glob("*.md"))]


def render_documents(root: Path, results: Optional[Path] = None) -> list[Path]:
    """Render every block of :func:`documents` (all of them before any file is written); the files that
    changed."""
    from stampnet.cli import write_text_atomic

    kinds = renderers(root, results)
    texts = {path: path.read_text() for path in documents(root)}
    new = {path: render_text(text, kinds, str(path)) for path, text in texts.items()}
    changed = [path for path in texts if new[path] != texts[path]]
    for path in changed:
        write_text_atomic(path, new[path])
    return changed
