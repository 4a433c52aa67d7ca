"""The licence and the citation file: LICENSE is the BSD 3-Clause text, CITATION.cff is valid YAML with the keys
that Citation File Format 1.2.0 requires and cites the paper, and pyproject.toml declares the same licence."""
import pytest

import stampnet
from tests.conftest import REPO_ROOT

yaml = pytest.importorskip("yaml", reason="reads CITATION.cff with PyYAML (pip install pyyaml)")

PAPER = "StampNet: unsupervised multi-class object discovery"
AUTHORS = ["Visser", "Corbetta", "Menkovski", "Toschi"]


def test_licence_is_bsd_3_clause():
    text = (REPO_ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License\n")
    assert "The StampNet authors (2019 code: Joost Visser, Alessandro Corbetta," in text
    for clause in ("1. Redistributions of source code must retain the above copyright notice",
                   "2. Redistributions in binary form must reproduce the above copyright notice",
                   "3. Neither the name of the copyright holder nor the names of its",
                   'THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"'):
        assert clause in text, clause


def test_citation_file_cites_the_paper_and_this_software():
    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert {"cff-version", "message", "title", "authors"} <= set(cff)
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "BSD-3-Clause"
    assert cff["version"] == stampnet.__version__
    assert [a.get("family-names") for a in cff["authors"][:4]] == AUTHORS
    assert all(a.get("family-names") or a.get("name") for a in cff["authors"])
    paper = cff["preferred-citation"]
    assert {"type", "title", "authors"} <= set(paper)
    assert paper["title"] == PAPER and paper["year"] == 2019 and "ICIP" in paper["collection-title"]
    assert [a["family-names"] for a in paper["authors"]] == AUTHORS
    assert "1902.02693" in paper["url"]


def test_pyproject_declares_the_licence():
    tomllib = pytest.importorskip("tomllib", reason="reads pyproject.toml with tomllib (Python 3.11+)")
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "BSD-3-Clause" and project["license-files"] == ["LICENSE"]
