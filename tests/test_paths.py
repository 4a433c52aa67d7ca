"""No path of one machine in the package, the scripts or the results records: library code and script defaults
never name the project's shared folder, and the results files say where runs and data were by what they are."""
from __future__ import annotations

from pathlib import Path

import pytest

from stampnet import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_library_and_scripts_never_name_the_shared_folder():
    files = [*(REPO_ROOT / "stampnet").rglob("*.py"), *(REPO_ROOT / "scripts").rglob("*"), *REPO_ROOT.glob("*.py")]
    named = [str(p.relative_to(REPO_ROOT)) for p in files
             if p.is_file() and "../shared" in p.read_text(errors="replace")]
    assert not named, f"these files name ../shared: {named}"


def test_reference_run_names_the_missing_files(tmp_path):
    from stampnet.legacy import reference_run

    with pytest.raises(ConfigError, match=r"lacks simple_shapes_2\.config\.json and simple_shapes_2\.weights"):
        reference_run(tmp_path, "simple_shapes_2", tmp_path)
