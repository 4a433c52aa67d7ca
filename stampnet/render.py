"""Markdown blocks rendered from results files.

A block is everything between ``<!-- KIND: ARG -->`` and ``<!-- /KIND -->``; rendering replaces it with what the
renderer of KIND makes of ARG and keeps the rest of the document. The kinds of :func:`renderers`:

- ``record: results/docs/NAME.csv``: the CSV file as a markdown table (the header row names the columns, cells
  verbatim);
- ``bench: results/bench/NAME.json``: the table of a ``python -m stampnet.bench --save`` record;
- ``results: RECIPE``: the README's results block from ``results/RECIPE/`` and ``results/2019/``;
- ``benchmarks: RECIPE``: the README's multi-object benchmarks block from ``results/RECIPE/``;
- ``change: BEFORE..AFTER``: per row of the Table, the records of ``results/BEFORE/`` beside ``results/AFTER/``.

``python -m stampnet.table --render`` renders every block of README.md and docs/*.md.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Callable, Mapping, Optional

from stampnet import ConfigError

Renderers = Mapping[str, Callable[[str, str], str]]  # (ARG, the block's present text) -> its new text
START = re.compile(r"^<!-- ([a-z][a-z0-9_-]*): (\S+) -->$\n?", re.M)  # a marker is a line of its own
END = re.compile(r"^<!-- /([a-z][a-z0-9_-]*) -->$")
LOOSE = re.compile(r"^\s*<!--\s*(/?)\s*([a-z][a-z0-9_-]*)\s*(:\s*\S+)?\s*-->\s*$")  # a marker, however spaced


def check_markers(text: str, kinds, source: str = "the document") -> None:
    """One ConfigError for a line that is a marker of a known kind written otherwise than ``<!-- KIND: ARG -->``
    / ``<!-- /KIND -->`` (two spaces, a space missing, a space at the end), which rendering would skip."""
    for n, line in enumerate(text.splitlines(), 1):
        loose = LOOSE.match(line)
        if loose and loose[2] in kinds and not (START.fullmatch(line) or END.fullmatch(line)):
            arg = (loose[3] or ":").lstrip(":").strip()
            want = f"<!-- /{loose[2]} -->" if loose[1] else f"<!-- {loose[2]}: {arg or 'ARG'} -->"
            raise ConfigError(f"{source}, line {n}: the marker {line.strip()!r} is not written as {want!r} (one "
                              "space on each side, nothing else on the line), so it would be skipped; write it so")


def render_text(text: str, renderers: Renderers, source: str = "the document") -> str:
    """``text`` with every block rewritten by the renderer of its kind; one ConfigError for an unknown kind, a
    marker written otherwise, a block without its end marker, or a file a renderer cannot use (missing, a
    folder, not UTF-8, not the record it should be)."""
    check_markers(text, renderers, source)
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
        marker = f"<!-- {kind}: {arg} -->"
        try:
            body = renderers[kind](arg, text[start.end():end.start()])
        except FileNotFoundError as err:
            raise ConfigError(f"{source}: {marker} names a file that does not exist "
                              f"({err.filename}); fix the path or write the file") from None
        except IsADirectoryError as err:
            raise ConfigError(f"{source}: {marker} names a folder ({err.filename}); name a file in it") from None
        except UnicodeDecodeError as err:
            raise ConfigError(f"{source}: {marker} names a file that is not UTF-8 text (byte "
                              f"{err.object[err.start]:#04x} at offset {err.start}); save it as UTF-8") from None
        except OSError as err:
            raise ConfigError(f"{source}: {marker}: cannot read {err.filename} ({err.strerror}); fix its "
                              "permissions or the path") from None
        except ConfigError as err:
            raise ConfigError(f"{source}: {marker}: {err}") from None
        out += [text[pos:start.start()], f"<!-- {kind}: {arg} -->\n", body.rstrip("\n"), "\n"]
        pos = end.start()
    return "".join(out) + text[pos:]


def csv_table(path: Path) -> str:
    """A CSV file as a markdown table: its first row the header, every cell as written."""
    with open(path, newline="", encoding="utf-8") as f:
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
    from stampnet.config import load_json

    results = Path(results) if results is not None else Path(root) / "results"

    def bench(arg: str, old: str) -> str:
        from stampnet.bench import table

        path = Path(root) / arg
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(path))
        fix = "write it again with `python -m stampnet.bench --save FILE`"
        try:
            return table(load_json(path, fix))
        except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError) as err:
            what = f"lacks the key {err}" if isinstance(err, KeyError) else f"{type(err).__name__}: {err}"
            raise ConfigError(f"{path} is not a benchmark record ({what}); {fix}") from None

    def results_block(recipe: str, old: str) -> str:
        from stampnet.table.render import readme_block

        return readme_block(results, recipe, old)

    def benchmarks(recipe: str, old: str) -> str:
        from stampnet.table.render import benchmarks_block

        return benchmarks_block(results, recipe)

    def change(arg: str, old: str) -> str:
        from stampnet.table.render import change_block

        return change_block(results, arg)

    return {"record": lambda arg, old: csv_table(Path(root) / arg), "bench": bench, "results": results_block,
            "benchmarks": benchmarks, "change": change}


def documents(root: Path) -> list[Path]:
    """The documents whose blocks are rendered: README.md and docs/*.md."""
    return [Path(root) / "README.md", *sorted((Path(root) / "docs").glob("*.md"))]


def rendered_documents(root: Path, results: Optional[Path] = None) -> dict[Path, str]:
    """{document: its new text} of the :func:`documents` that rendering changes; writes nothing (every block
    rendered and checked first)."""
    kinds = renderers(root, results)
    texts = {}
    for path in documents(root):
        try:
            texts[path] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start}); "
                              "save it as UTF-8") from None
    new = {path: render_text(text, kinds, str(path)) for path, text in texts.items()}
    return {path: new[path] for path in texts if new[path] != texts[path]}


def check_documents(root: Path) -> None:
    """Check the markers of every :func:`documents` page (spacing, known kinds, end markers) without reading the
    files they name: one ConfigError for the first that rendering would stumble on."""
    kinds = {kind: (lambda arg, old: old) for kind in renderers(root)}
    for path in documents(root):
        render_text(path.read_text(encoding="utf-8", errors="replace"), kinds, str(path))


def write_documents(changed: dict[Path, str]) -> list[Path]:
    from stampnet.cli import write_text_atomic

    return [write_text_atomic(path, text) for path, text in changed.items()]


def render_documents(root: Path, results: Optional[Path] = None) -> list[Path]:
    """Render every block of :func:`documents` (all of them before any file is written); the files that
    changed."""
    return write_documents(rendered_documents(root, results))
