"""``python -m stampnet.bench --compare REV``: training canvases/s of this working tree against another revision,
side by side on the same machine.

REV is checked out into a temporary git worktree. Each round trains the same short run in both trees — ``python
simple_shapes_2.py with fast run_parameters.epochs=E run_parameters.steps_per_epoch=S`` (the real experiment:
data, model, schedules, callbacks, checkpoints), no figures, no precise BN — one tree after the other, the order
swapped every round, so load that comes and goes falls on both. A run's speed is the median of its epoch lines'
canvases/s after the first epoch (which traces the step). Reported: every round, the medians, and the ratio of
the medians (this tree / REV). Two trees never train at once.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from stampnet import ConfigError

RATE = re.compile(r"^epoch (\d+)/\d+ .* ([0-9.]+) img/s$")


def checkout() -> Path:
    """The git checkout the package's files belong to (its top folder); ConfigError for an installed package."""
    package = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "ls-files", "--error-unmatch", "__init__.py"], cwd=package, capture_output=True)
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=package, capture_output=True, text=True)
    except OSError:  # no git
        out = top = subprocess.CompletedProcess([], 1)
    if out.returncode != 0 or top.returncode != 0:
        raise ConfigError(f"--compare trains two git trees, but {package} is not in a git checkout; run it from a "
                          "clone of the repository")
    return Path(top.stdout.strip())


def train_rate(tree: Path, epochs: int, steps: int, runs: Path) -> float:
    """Median canvases/s of epochs 2… of a short fast Simple Shapes-2 training in ``tree``."""
    command = [sys.executable, str(tree / "simple_shapes_2.py"), "with", "fast", f"run_parameters.epochs={epochs}",
               f"run_parameters.steps_per_epoch={steps}", "run_parameters.validation_steps=2",
               "run_parameters.precise_bn=0", "run_parameters.n_figure_images=0",
               f"run_parameters.checkpoint_period={epochs}"]
    env = {**os.environ, "PYTHONPATH": str(tree), "STAMPNET_RUNS": str(runs), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    rates = [float(m.group(2)) for m in map(RATE.match, proc.stdout.splitlines()) if m and int(m.group(1)) > 1]
    if proc.returncode != 0 or not rates:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ConfigError(f"the training in {tree} failed (exit code {proc.returncode}): {tail}")
    return statistics.median(rates)


def compare(rev: str, rounds: int = 3, epochs: int = 4, steps: int = 32, progress=print) -> dict:
    """Train in this tree and in ``rev`` ``rounds`` times each, alternating; returns the rates and their ratio."""
    from stampnet.bench.machine import cpu_name

    here = checkout()
    check = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=here,
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise ConfigError(f"{rev!r} is not a revision of this repository; give a commit, branch or tag "
                          "(e.g. --compare HEAD~3)")
    commit = check.stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="stampnet-compare-"))
    other = tmp / "tree"
    try:
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(other), commit], cwd=here,
                       check=True, capture_output=True)
        trees = {"this tree": here, rev: other}
        rates = {name: [] for name in trees}
        for r in range(rounds):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in order:
                rate = train_rate(trees[name], epochs, steps, tmp / "runs" / f"{r}-{len(rates[name])}")
                rates[name].append(rate)
                progress(f"round {r + 1}/{rounds}: {name}: {rate:.1f} canvases/s")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=here, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    medians = {name: statistics.median(v) for name, v in rates.items()}
    return {"rev": rev, "commit": commit, "cpu": cpu_name(), "rounds": rounds, "epochs": epochs, "steps": steps,
            "rates": rates, "medians": medians, "ratio": medians["this tree"] / medians[rev]}


def report(result: dict) -> str:
    rev = result["rev"]
    lines = [f"training canvases/s, fast Simple Shapes-2, {result['epochs']} epochs × {result['steps']} steps × 64, "
             f"median of epochs 2…, {result['rounds']} alternating rounds, on {result['cpu']}",
             f"  this tree: {', '.join(f'{v:.1f}' for v in result['rates']['this tree'])} "
             f"(median {result['medians']['this tree']:.1f})",
             f"  {rev} ({result['commit'][:10]}): {', '.join(f'{v:.1f}' for v in result['rates'][rev])} "
             f"(median {result['medians'][rev]:.1f})",
             f"  ratio this tree / {rev}: {result['ratio']:.2f}x"]
    return "\n".join(lines)


def main(rev: str, rounds: int, save=None, as_json: bool = False) -> int:
    from stampnet import cli

    try:
        result = compare(rev, rounds)
    except ConfigError as err:
        return cli.fail(str(err))
    print(report(result))
    if save:
        cli.write_text_atomic(save, json.dumps(result, indent=2))
    if as_json:
        print(json.dumps(result))
    return 0
