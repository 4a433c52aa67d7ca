"""Tables in README.md and docs/ that are rendered from results files agree with their files (a stale table fails
here), and the renderer rewrites only its blocks."""
import re
import shutil

import pytest

from stampnet import render
from stampnet.config import ConfigError
from tests.conftest import REPO_ROOT

BENCH = "results/bench/intel-xeon-2-cores.json"


@pytest.mark.parametrize("doc", render.documents(REPO_ROOT), ids=lambda p: p.name)
def test_rendered_tables_match_their_files(doc):
    text = doc.read_text()
    assert render.render_text(text, render.renderers(REPO_ROOT), str(doc)) == text, \
        f"{doc.relative_to(REPO_ROOT)} disagrees with its results files: run python -m stampnet.table --render"


def test_the_docs_hold_every_kind_of_block():
    text = "".join(doc.read_text() for doc in render.documents(REPO_ROOT))
    assert all(f"<!-- /{kind} -->" in text for kind in render.renderers(REPO_ROOT))


def test_rendering_rewrites_a_stale_block_and_keeps_the_rest(tmp_path):
    (tmp_path / "results" / "bench").mkdir(parents=True)
    shutil.copy(REPO_ROOT / BENCH, tmp_path / BENCH)
    (tmp_path / "t.csv").write_text('a,b c\n**1.0**,"2, 3"\n,x\n')
    doc = tmp_path / "README.md"
    doc.write_text(f"# head\n<!-- bench: {BENCH} -->\nstale\n<!-- /bench -->\nmiddle\n"
                   "<!-- record: t.csv -->\nold\n<!-- /record -->\ntail\n")
    assert render.render_documents(tmp_path) == [doc]
    text = doc.read_text()
    assert "stale" not in text and "old" not in text and text.startswith("# head\n") and text.endswith("\ntail\n")
    assert "| simple_shapes_2 | training, separable | 64 |" in text and "<!-- /bench -->\nmiddle\n" in text
    assert "<!-- record: t.csv -->\n| a | b c |\n|---|---|\n| **1.0** | 2, 3 |\n| | x |\n<!-- /record -->" in text
    assert render.render_documents(tmp_path) == []  # up to date: unchanged


@pytest.mark.parametrize("block, message", [
    ("<!-- tabel: t.csv -->\n<!-- /tabel -->", "unknown block kind 'tabel'"),
    ("<!-- record: missing.csv -->\n<!-- /record -->", "names a file that does not exist"),
    ("<!-- record: t.csv -->\n| a |\n", "has no <!-- /record -->"),
])
def test_a_bad_block_is_one_clear_error(tmp_path, block, message):
    doc = tmp_path / "README.md"
    doc.write_text(f"# head\n{block}\ntail\n")
    with pytest.raises(ConfigError, match=message):
        render.render_documents(tmp_path)
    assert doc.read_text() == f"# head\n{block}\ntail\n"


def test_a_ragged_record_is_one_clear_error(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1\n")
    with pytest.raises(ConfigError, match=r"t.csv, line 2: 1 cells under a header of 2"):
        render.render_text("<!-- record: t.csv -->\n<!-- /record -->\n", render.renderers(tmp_path))


@pytest.mark.parametrize("block, message", [
    ("<!--  record: t.csv -->\n<!-- /record -->", r"line 2: the marker '<!--  record: t.csv -->' is not written as "
                                                   r"'<!-- record: t.csv -->' .*so it would be skipped"),
    ("<!-- record:  t.csv -->\n<!-- /record -->", r"line 2: the marker .* is not written as '<!-- record: t.csv -->'"),
    ("<!-- record: t.csv -->\n<!--  /record -->", r"line 3: the marker .* is not written as '<!-- /record -->'"),
    ("<!-- results: fast --> \n<!-- /results -->", r"line 2: the marker .* is not written as '<!-- results: fast -->'"),
    ("<!-- record: sub -->\n<!-- /record -->", r"<!-- record: sub --> names a folder \(.*sub\); name a file in it"),
    ("<!-- record: latin1.csv -->\n<!-- /record -->", r"names a file that is not UTF-8 text \(byte 0xe9 at offset 5\)"),
    ("<!-- bench: bad.json -->\n<!-- /bench -->", r"bad.json is not a benchmark record \(lacks the key "
                                                  r"'peak'\); write it again with `python -m stampnet.bench --save"),
    ("<!-- bench: sub -->\n<!-- /bench -->", r"names a folder"),
    ("<!-- bench: deep.json -->\n<!-- /bench -->", r"deep.json nests its JSON deeper than Python reads"),
], ids=["two-spaces-before", "two-spaces-after", "end-two-spaces", "space-at-the-end", "a-folder", "not-utf8",
        "a-wrong-key-record", "bench-folder", "bench-too-deep"])
def test_a_block_whose_file_cannot_be_used_is_one_clear_error(tmp_path, block, message):
    (tmp_path / "t.csv").write_text("a\n1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "latin1.csv").write_bytes("a\ncaf\xe9\n".encode("latin-1"))
    (tmp_path / "bad.json").write_text('{"device": "x"}')
    (tmp_path / "deep.json").write_text("[" * 50_000 + "]" * 50_000)
    doc = tmp_path / "README.md"
    doc.write_text(f"# head\n{block}\ntail\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(doc))}[^\n]*{message}[^\n]*$"):
        render.render_documents(tmp_path)
    assert doc.read_text() == f"# head\n{block}\ntail\n"
