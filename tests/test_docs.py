"""Tables in docs/ that are rendered from records agree with their records (a stale table fails here)."""
import json
import shutil

from stampnet.bench import roofline
from stampnet.table import REPO_ROOT


def test_performance_roofline_tables_match_their_records():
    text = (REPO_ROOT / "docs" / "performance.md").read_text()
    blocks = list(roofline.DOC_BLOCK.finditer(text))
    assert len(blocks) == 2
    for m in blocks:
        record = json.loads((REPO_ROOT / m[2]).read_text())
        assert m[3] == roofline.table(record) + "\n", f"{m[2]}: run python -m stampnet.bench.roofline --render docs/performance.md"


def test_render_doc_rewrites_a_stale_block_and_keeps_the_rest(tmp_path):
    record = "results/bench/roofline-simple_shapes_2-intel-xeon-idle.json"
    (tmp_path / "results" / "bench").mkdir(parents=True)
    shutil.copy(REPO_ROOT / record, tmp_path / record)
    doc = tmp_path / "doc.md"
    doc.write_text(f"# head\n<!-- roofline: {record} -->\nstale\n<!-- /roofline -->\ntail\n")
    assert roofline.render_doc(doc, tmp_path)
    text = doc.read_text()
    assert "stale" not in text and text.startswith("# head\n") and text.endswith("<!-- /roofline -->\ntail\n")
    assert "| encoder_1 | 84×84×1 |" in text
    assert not roofline.render_doc(doc, tmp_path)  # up to date: unchanged
