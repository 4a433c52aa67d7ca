"""The analysis notebook executes headless on a tiny run folder: the measures table, the measures of
every checkpoint against training canvases, and every figure shown inline as an image."""
import base64
import re
import shutil

import nbformat
from nbclient import NotebookClient
import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # trains: left out of the quick lane (-m "not slow")


def test_notebook_executes_on_tiny_run(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)  # a run folder of the command line; the notebook writes its figures into it
    nb = nbformat.read(REPO_ROOT / "stampnet_analysis.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source += f"\nrun_folder = {str(run)!r}\nn_images = 16\nshow = [0, 1]\nsave_figs = True\nepochs = 'all'\n"
    params.source += "precise_bn = 32\n"  # the measures with BatchNorm statistics recomputed without dropout
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "cor_loc" in text and "purity" in text and "precise_bn" in text
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert (run / "figures" / "cluster_gallery.png").stat().st_size > 1000
    assert (run / "figures" / "quality_by_epoch.png").stat().st_size > 1000
    html = "\n".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))
    assert "training_canvases" in html  # the table of measures per checkpoint
    figure_cells = [c for c in nb.cells if c.cell_type == "code" and re.search(r"\bfigures\.\w+\(", c.source)]
    assert len(figure_cells) >= 4  # stamps, reconstructions, cluster gallery, quality by epoch
    for cell in figure_cells:  # what a user sees in jupyter lab: a PNG, not "<Figure size ... with N Axes>"
        pngs = [o.data["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        assert len(pngs) == 1, f"no inline image (or several) for the cell:\n{cell.source}"
        assert base64.b64decode(pngs[0]).startswith(b"\x89PNG") and len(pngs[0]) > 1000
