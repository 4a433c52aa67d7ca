"""scripts/freeze_constraints.py and constraints.txt: exact pins of what requirements.txt pulls (direct and
transitive), the installed versions, nothing else (no stampnet, no paths); a bad input is one error line."""
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT, load_script

pytest.importorskip("tomllib", reason="the script reads pyproject.toml with tomllib (Python 3.11+)")


def pins(path) -> dict:
    """{canonical name: version} of a constraints file; every line a comment or ``name==version``."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        name, version = line.split("==")
        assert Requirement(line).name == name and "/" not in line and ":" not in line, line
        out[canonicalize_name(name)] = version
    return out


def test_the_script_pins_what_requirements_pull_at_their_installed_versions(tmp_path, capsys):
    freeze = load_script("scripts/freeze_constraints.py")
    assert freeze.main(["--out", str(tmp_path / "c.txt"), str(REPO_ROOT / "requirements.txt")]) == 0
    found = pins(tmp_path / "c.txt")
    for name in ("sacred", "tensorflow", "keras", "pytest", "jupyterlab",  # direct, from pyproject and its extras
                 "docopt-ng", "jsonpickle", "wrapt"):                    # sacred's own
        assert found[name] == metadata.version(name), name
    assert "stampnet" not in found and "pip" not in found  # the project itself; not needed by it
    assert all(found[name] == metadata.version(name) for name in found)
    assert str(REPO_ROOT) not in (tmp_path / "c.txt").read_text()


def test_the_committed_constraints_cover_every_direct_dependency():
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["notebook"] + \
        project["optional-dependencies"]["test"]
    committed = pins(REPO_ROOT / "constraints.txt")
    for line in direct:
        req = Requirement(line)
        assert req.specifier.contains(committed[canonicalize_name(req.name)]), req  # present, and allowed


@pytest.mark.parametrize("line, match", [
    ("no-such-distribution-xyz>=1", "error: no-such-distribution-xyz (needed by requirements) is not installed"),
    ("sacred>=99", "needs sacred>=99; run `pip install -r requirements.txt` first"),
    ("-e .[nonexistent]", "has no extra(s) ['nonexistent']"),
    ("git+https://x y", "cannot read the line"),
])
def test_a_bad_requirements_file_is_one_error_line(tmp_path, capsys, line, match):
    freeze = load_script("scripts/freeze_constraints.py")
    (tmp_path / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text())
    (tmp_path / "requirements.txt").write_text(f"# a comment\n{line}\n")
    assert freeze.main([str(tmp_path / "requirements.txt"), "--out", str(tmp_path / "c.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and match in err, err
    assert not (tmp_path / "c.txt").exists()
