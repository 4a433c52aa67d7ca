"""Write constraints.txt: the exact installed version of every distribution that ``pip install -r requirements.txt``
pulls (stampnet's dependencies and extras from pyproject.toml, then theirs, markers evaluated here), so that
``pip install -r requirements.txt -c constraints.txt`` installs the same versions elsewhere.

    python scripts/freeze_constraints.py                                  # requirements.txt -> constraints.txt
    python scripts/freeze_constraints.py requirements.txt requirements-jax.txt --out constraints-jax.txt

Run it in the environment that requirements.txt made (after ``pip install -r requirements.txt``).
"""
from __future__ import annotations

import platform
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from stampnet import ConfigError
from stampnet.cli import ArgumentParser, fail, write_text_atomic

REPO = Path(__file__).resolve().parent.parent
PROJECT = re.compile(r"^(?:-e\s+)?\.(?:\[(?P<extras>[^\]]*)\])?$")  # the line "-e .[extra,…]" of a requirements file


def project_requirements(pyproject: Path, extras: set) -> tuple[str, list[Requirement]]:
    """(name, requirements) of the project in ``pyproject`` with ``extras``."""
    import tomllib

    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = sorted(extras - set(optional))
    if unknown:
        raise ConfigError(f"{pyproject} has no extra(s) {unknown} (it has {sorted(optional)}); fix the requirements "
                          "file's `-e .[…]` line")
    lines = project.get("dependencies", []) + [r for extra in sorted(extras) for r in optional[extra]]
    return project["name"], [Requirement(line) for line in lines]


def requirements(files: list[Path]) -> tuple[str, list[Requirement]]:
    """The project's name and what the requirements ``files`` ask for (``-e .[extras]`` read from pyproject.toml)."""
    name, wanted = None, []
    for path in files:
        if not path.is_file():
            raise ConfigError(f"no requirements file {path}; give one such as requirements.txt")
        for line in path.read_text().splitlines():
            line = line.split(" #")[0].strip()
            if not line or line.startswith("#"):
                continue
            match = PROJECT.match(line)
            if match:
                extras = {e.strip() for e in (match["extras"] or "").split(",") if e.strip()}
                name, reqs = project_requirements(path.resolve().parent / "pyproject.toml", extras)
                wanted += reqs
                continue
            try:
                wanted.append(Requirement(line))
            except InvalidRequirement:
                raise ConfigError(f"{path}: cannot read the line {line!r}; give `-e .[extras]` or a requirement "
                                  "such as numpy>=1.26") from None
    return name, wanted


def _applies(req: Requirement, extras) -> bool:
    return req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in (extras or {""}))


def installed_closure(wanted: list[Requirement], project: str | None = None) -> dict[str, tuple[str, str]]:
    """{canonical name: (name, installed version)} of ``wanted`` and everything they need here, without
    ``project`` itself. Raises ConfigError for a distribution that is missing or of a version they exclude."""
    found, seen, todo = {}, set(), [(req, "requirements") for req in wanted if _applies(req, ())]
    while todo:
        req, parent = todo.pop()
        key = canonicalize_name(req.name)
        if key == canonicalize_name(project or "") or (key, frozenset(req.extras), str(req.specifier)) in seen:
            continue
        seen.add((key, frozenset(req.extras), str(req.specifier)))
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise ConfigError(f"{req.name} (needed by {parent}) is not installed; run `pip install -r "
                              "requirements.txt` first, then this script") from None
        if not req.specifier.contains(dist.version, prereleases=True):
            raise ConfigError(f"{dist.metadata['Name']} {dist.version} is installed but {parent} needs {req}; "
                              "run `pip install -r requirements.txt` first, then this script")
        found[key] = (dist.metadata["Name"], dist.version)
        todo += [(sub, f"{dist.metadata['Name']} {dist.version}") for sub in map(Requirement, dist.requires or [])
                 if _applies(sub, req.extras)]
    return found


def render(found: dict, files: list[str], out: str) -> str:
    given = " ".join(f"-r {f}" for f in files)
    head = (f"# The exact versions that `pip install {given}` installed, measured with Python "
            f"{platform.python_version()}\n# on {sys.platform} ({platform.machine()}); "
            f"`pip install {given} -c {out}` installs them again.\n"
            f"# Made by `python scripts/freeze_constraints.py {' '.join(files)} --out {out}`; rerun it after "
            "changing a dependency.\n")
    return head + "".join(f"{name}=={version}\n" for _, (name, version) in sorted(found.items()))


def main(argv=None) -> int:
    parser = ArgumentParser(prog="python scripts/freeze_constraints.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", default=["requirements.txt"], help="requirements files (requirements.txt)")
    parser.add_argument("--out", default="constraints.txt", help="the constraints file to write (constraints.txt)")
    args = parser.parse_args(argv)
    try:
        project, wanted = requirements([Path(f) for f in args.files])
        found = installed_closure(wanted, project)
    except ConfigError as err:
        return fail(str(err))
    write_text_atomic(args.out, render(found, [Path(f).name for f in args.files], Path(args.out).name))
    print(f"{args.out}: {len(found)} distributions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
