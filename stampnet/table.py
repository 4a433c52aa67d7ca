"""The paper's Table from scratch: ``python -m stampnet.table``.

For every row (Simple Shapes-1/-2, T-MNIST-1/-2, CT-MNIST-1/-2, pedestrian) and seed it trains the row's
experiment script with one named config (``--recipe``, default ``fast``) unless a finished run is there,
resumes an interrupted one from its training state (``with resume_from=…``: the same numbers as an
uninterrupted run), then measures the run as ``python -m stampnet.evaluate`` does (its test split, τ = 1e-4,
Gumbel noise drawn from seed 0, greedy matching) beside two k-means references with the same K. It writes

- ``results/<recipe>/<row>[-seed<N>].json``: the measures with their provenance (commands, config, training
  canvases, wall time, canvases/s, backend, CPU, git commit, run folders);
- ``results/<recipe>/table.md``, ``table.csv`` and ``table.png``: ours beside the paper and the 2019 weights;
- ``results/2019/<row>.json``: the authors' published weights measured here, where the files can be had
  (Keras cache, download or ``STAMPNET_WEIGHTS_URL``; ``--no-2019`` skips them).

Runs live in ``<runs>/<recipe>/<row>/<id>`` (seed N ≥ 1: ``<runs>/<recipe>/seed<N>/<row>/<id>``); ``--runs``
defaults to ``$STAMPNET_RUNS`` or ``runs``. Seed 0 is the script's own seed; seed N ≥ 1 is that seed + N.
Stopping the command (Ctrl-C, a kill) loses at most the epoch in progress: run it again to continue.
``--render`` rewrites the README's results block from the results files. Examples::

    python -m stampnet.table                                  # the whole Table with fast
    python -m stampnet.table --rows simple_shapes_2 --seeds 0,1,2
    python -m stampnet.table --recipe quick --limit 500       # a smoke run of minutes per row
"""
from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional

from stampnet import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
STALE_HEARTBEAT_S = 120  # a RUNNING run whose heartbeat is older than this was stopped without saying so
HEARTBEAT_WAIT_S = 25    # a younger heartbeat must move within this (Sacred beats every 10 s)
README_BEGIN, README_END = "<!-- results:begin -->", "<!-- results:end -->"
MEASURES = (("cor_loc", "CorLoc"), ("iou", "IoU"), ("purity", "purity"))


@dataclass(frozen=True)
class Row:
    name: str                                   # the experiment script, without .py
    title: str
    paper: tuple[float, float, float]           # the paper's Table: CorLoc, IoU, purity
    data: str = ""                              # "mnist": reads MNIST; "ct_mnist": its file is generated first
    budget: dict = field(default_factory=dict)  # recipe -> extra overrides (the CT-MNIST allowance)


ROWS = (
    Row("simple_shapes_1", "Simple Shapes-1", (0.9999, 0.9718, 0.9928)),
    Row("simple_shapes_2", "Simple Shapes-2", (0.9828, 0.9500, 0.9564)),
    Row("t_mnist_1", "T-MNIST-1", (0.9983, 0.8925, 0.7891), "mnist"),
    Row("t_mnist_2", "T-MNIST-2", (0.9729, 0.8537, 0.5277), "mnist"),
    Row("ct_mnist_1", "CT-MNIST-1", (0.9972, 0.8912, 0.8113), "ct_mnist", {"fast": ("run_parameters.epochs=240",)}),
    Row("ct_mnist_2", "CT-MNIST-2", (0.9545, 0.8394, 0.6149), "ct_mnist", {"fast": ("run_parameters.epochs=240",)}),
    Row("pedestrian", "Pedestrian", (0.7816, 0.6308, 0.9597)),
)
BY_NAME = {row.name: row for row in ROWS}


@dataclass(frozen=True)
class Job:
    """One row and seed of the Table, with everything needed to train and measure it (picklable)."""
    row: Row
    seed_index: int
    recipe: Optional[str]        # a named config of stamp_network.py; None: the 2019 schedule
    runs: Path                   # <runs>/<recipe>[/seed<N>]: STAMPNET_RUNS of the training
    results: Path                # results/<recipe>
    overrides: tuple = ()        # more `with` overrides for every row
    mnist: Optional[str] = None
    limit: Optional[int] = None
    force: bool = False

    @property
    def label(self) -> str:
        return self.row.name + (f"-seed{self.seed_index}" if self.seed_index else "")

    @property
    def result_file(self) -> Path:
        return self.results / f"{self.label}.json"


def recipe_folder(recipe: Optional[str]) -> str:
    return recipe or "2019"


def log(message: str) -> None:
    print(f"[table] {message}", flush=True)


# ---------------------------------------------------------------------------------------------- run folders

def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _runs_of(folder: Path) -> list[Path]:
    """The Sacred run folders (numeric names with a run.json) in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.isdigit() and (p / "run.json").is_file()),
                  key=lambda p: int(p.name))


def _timestamp(text: Optional[str]) -> Optional[datetime]:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def is_live(run: Path) -> bool:
    """Sacred says RUNNING and its heartbeat (every 10 s) still moves: another process trains it. A process
    that was killed leaves RUNNING behind with a heartbeat that stops."""
    def beat():
        info = _read_json(run / "run.json")
        return info.get("heartbeat") if info.get("status") == "RUNNING" else None

    first = beat()
    if first is None or _timestamp(first) is None:
        return False
    age = (datetime.utcnow() - _timestamp(first)).total_seconds()
    if age > STALE_HEARTBEAT_S:
        return False
    time.sleep(max(0.0, HEARTBEAT_WAIT_S - age))
    return beat() not in (None, first)


def is_finished(run: Path) -> bool:
    from stampnet.checkpoints import latest_weights

    return _read_json(run / "run.json").get("status") == "COMPLETED" and latest_weights(run / "trained") is not None


def resumable(run: Path) -> bool:
    from stampnet.checkpoints import STATE_FILE

    return (run / "backup" / STATE_FILE).is_file()


def run_chain(run: Path) -> list[Path]:
    """``run`` and the runs it resumed, oldest first (each config.json's ``resume_from``)."""
    chain, seen = [run], {run.resolve()}
    while True:
        source = _read_json(chain[0] / "config.json").get("resume_from")
        if not source or not Path(source).is_dir() or Path(source).resolve() in seen:
            return chain
        chain.insert(0, Path(source))
        seen.add(chain[0].resolve())


def script_seed(script: Path) -> int:
    """The ``"seed"`` of the config that ``script`` adds (``ex.add_config({...})``), read without running it."""
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "seed" and isinstance(value, ast.Constant):
                    return int(value.value)
    raise ConfigError(f"{script} sets no seed in its config; add \"seed\": <int> to it")


# ---------------------------------------------------------------------------------------------- training

def data_overrides(job: Job) -> list[str]:
    return [f"run_parameters.mnist_path={job.mnist}"] if job.mnist and job.row.data == "mnist" else []


def ensure_data(job: Job) -> None:
    """CT-MNIST rows read a generated file: make both 2019 files first when one is missing."""
    if job.row.data != "ct_mnist":
        return
    folder = REPO_ROOT / "data" / "cluttered_mnist"
    if all((folder / name).is_file() for name in ("8x8-clutter-8-times.npz", "2-shape-8x8-clutter-8-times.npz")):
        return
    command = [sys.executable, str(REPO_ROOT / "generate_cluttered_mnist.py")] + (["--mnist", job.mnist] if job.mnist else [])
    log(f"{job.label}: making the CT-MNIST files: {' '.join(command[1:])}")
    if subprocess.run(command, cwd=REPO_ROOT).returncode != 0:
        raise ConfigError("could not make the CT-MNIST files (see above); offline, pass --mnist PATH")


def train_command(job: Job, resume: Optional[Path]) -> list[str]:
    script = REPO_ROOT / f"{job.row.name}.py"
    words = [sys.executable, str(script), "with"]
    if resume is not None:
        return words + [f"resume_from={resume}"]  # the stored config carries the recipe and every override
    words += [job.recipe] if job.recipe else []
    words += list(job.row.budget.get(job.recipe, ())) + data_overrides(job) + list(job.overrides)
    if job.seed_index:
        words.append(f"seed={script_seed(script) + job.seed_index}")
    return words


def train_row(job: Job) -> Optional[Path]:
    """Train (or resume, or adopt) the run of ``job``; returns its finished run folder, or None when another
    process is training it now."""
    folder = job.runs / job.row.name
    runs = _runs_of(folder)
    if not job.force:
        done = [r for r in runs if is_finished(r)]
        if done:
            log(f"{job.label}: finished run {done[-1]}")
            return done[-1]
    live = [r for r in runs if is_live(r)]
    if live:
        log(f"{job.label}: {live[-1]} is training in another process; skipped (run again when it has finished)")
        return None
    resume = None if job.force else next((r for r in reversed(runs) if resumable(r)), None)
    ensure_data(job)
    command = train_command(job, resume)
    what = f"resuming {resume}" if resume else "training a new run"
    log(f"{job.label}: {what}: {' '.join(Path(command[1]).name if i == 1 else w for i, w in enumerate(command) if i)}")
    env = {**os.environ, "STAMPNET_RUNS": str(job.runs)}
    returncode = subprocess.run(command, cwd=REPO_ROOT, env=env).returncode
    if returncode != 0:
        raise ConfigError(f"training {job.label} stopped with exit code {returncode} (its output is above; "
                          f"run folders in {folder}); run the table again to resume it")
    finished = [r for r in _runs_of(folder) if is_finished(r)]
    if not finished:
        raise ConfigError(f"training {job.label} ended without a finished run in {folder}")
    return finished[-1]


# ---------------------------------------------------------------------------------------------- measuring

def git_commit() -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def cpu_model() -> str:
    """This machine's CPU model name (as Sacred records it for a run)."""
    from sacred.host_info import get_host_info

    return get_host_info().get("cpu") or platform.processor() or platform.machine()


def kmeans_references(cfg: dict, test) -> dict:
    """The Table's k-means references with StampNet's K (``stampnet.baselines``); none without labels."""
    from stampnet.baselines import kmeans_on_canvases, kmeans_on_objects

    if test.labels is None or test.coords is None:
        return {}
    decoder = cfg["layer_parameters"]["decoder_parameters"]
    K, seed = decoder["nr_of_stamps"], cfg["seed"]
    return {"objects": kmeans_on_objects(test, K, decoder["stamp_size"], seed),
            "canvases": kmeans_on_canvases(test, K, seed)}


def provenance(run: Path, cfg: dict) -> dict:
    """How the run of a row was made: its chain of run folders with their commands and wall times."""
    chain = run_chain(run)
    parts, wall = [], 0.0
    for part in chain:
        info = _read_json(part / "run.json")
        start, stop = _timestamp(info.get("start_time")), _timestamp(info.get("stop_time"))
        seconds = (stop - start).total_seconds() if start and stop else None
        wall += seconds or 0.0
        meta = info.get("meta", {})
        parts.append({"folder": str(part), "status": info.get("status"), "named_configs": meta.get("named_configs"),
                      "config_updates": meta.get("config_updates"), "wall_s": seconds,
                      "cpu": info.get("host", {}).get("cpu"), "gpus": info.get("host", {}).get("gpus"),
                      "backend": _read_json(part / "info.json").get("backend")})
    rp, ip = cfg["run_parameters"], cfg["layer_parameters"]["input_parameters"]
    canvases = rp["epochs"] * rp["steps_per_epoch"] * ip["batch_size"]
    return {"run_folder": str(run), "runs": parts, "training_canvases": canvases, "epochs": rp["epochs"],
            "train_wall_s": wall, "canvases_per_s": canvases / wall if wall else None,
            "backend": parts[-1]["backend"], "cpu": parts[-1]["cpu"], "gpus": parts[-1]["gpus"]}


def measure_run(target, weights=None, limit=None, kmeans=True) -> dict:
    """The measures of a run folder (or config.json + ``weights``) as ``stampnet.evaluate`` takes them, with
    the k-means references and how long it took."""
    from stampnet.evaluate import evaluate

    start = time.time()
    result = evaluate(target, weights=weights, limit=limit)
    measures = result["measures"]
    cfg = result["run"].config
    references = kmeans_references(cfg, result["test"]) if kmeans else {}
    return {"measures": measures, "kmeans": references, "config": cfg, "test_canvases": len(result["test"]),
            "evaluate_s": time.time() - start}


def measure_row(job: Job, run: Path) -> dict:
    """Measure the finished run of ``job`` and write its results file."""
    from stampnet.cli import write_text_atomic

    log(f"{job.label}: measuring {run}" + (f" on the first {job.limit} test canvases" if job.limit else ""))
    measured = measure_run(run, limit=job.limit)
    cfg = measured.pop("config")
    record = {
        "row": job.row.name, "title": job.row.title, "recipe": recipe_folder(job.recipe),
        "seed_index": job.seed_index, "seed": cfg["seed"],
        "paper": dict(zip((k for k, _ in MEASURES), job.row.paper)),
        **measured, "limit": job.limit,
        "data": data_note(cfg),
        "provenance": {**provenance(run, cfg), "commands": train_commands(run),
                       "evaluated_with": f"python -m stampnet.evaluate {run}" + (f" --limit {job.limit}" if job.limit else ""),
                       "git_commit": git_commit(), "evaluated_on": cpu_model(),
                       "evaluated_at": datetime.now().isoformat(timespec="seconds"), "config": cfg},
    }
    job.results.mkdir(parents=True, exist_ok=True)
    write_text_atomic(job.result_file, json.dumps(record, indent=2, default=str))
    log(summary(record))
    return record


def train_commands(run: Path) -> list[str]:
    """The command line of every run in the chain, as typed (named configs and updates from run.json)."""
    out = []
    for part in run_chain(run):
        meta = _read_json(part / "run.json").get("meta", {})
        script = _read_json(part / "run.json").get("experiment", {}).get("name", "?")
        words = list(meta.get("named_configs") or []) + [f"{k}={v}" for k, v in _flat(meta.get("config_updates") or {})]
        out.append(f"python {script}.py" + (" with " + " ".join(words) if words else ""))
    return out


def _flat(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def data_note(cfg: dict) -> Optional[str]:
    rp = cfg["run_parameters"]
    if rp["img_type"] == "pedestrian":
        folder = Path(rp["img_type_parameters"].get("data_path", "data/pedestrian"))
        synthetic = (folder if folder.is_absolute() else REPO_ROOT / folder) / "synthetic.json"
        return "synthetic overhead set (the 2019 recordings are not public)" if synthetic.is_file() else None
    if rp.get("mnist_path"):
        return f"MNIST from {Path(rp['mnist_path']).name}"
    return None


def summary(record: dict) -> str:
    m, p = record["measures"], record["paper"]
    ours = " / ".join(_fmt(m.get(k)) for k, _ in MEASURES)
    paper = " / ".join(_fmt(p[k]) for k, _ in MEASURES)
    prov = record["provenance"]
    return (f"{record['row']}{'-seed%d' % record['seed_index'] if record['seed_index'] else ''}: CorLoc / IoU / "
            f"purity {ours} (paper {paper}); {prov['training_canvases']:,} canvases, "
            f"{_duration(prov['train_wall_s'])} of training")


def measure_2019(row: Row, results: Path, mnist: Optional[str], limit: Optional[int]) -> Optional[dict]:
    """The authors' weights of ``row`` measured here (results/2019/<row>.json, reused when it was measured
    with the same limit); None when the row has no published weights or the files cannot be had."""
    from stampnet.cli import write_text_atomic
    from stampnet.config import read_config
    from stampnet.pretrained import WEIGHTS, fetch

    if row.name not in WEIGHTS:
        return None
    path = results / f"{row.name}.json"
    cached = _read_json(path)
    if cached.get("limit") == limit and "measures" in cached:
        return cached
    try:
        config, weights = fetch(row.name)
    except ConfigError as err:
        log(f"{row.name}: no 2019 weights ({err})")
        return None
    cfg = read_config(config)
    if mnist and row.data == "mnist":
        cfg["run_parameters"]["mnist_path"] = mnist
    results.mkdir(parents=True, exist_ok=True)
    local = results / f".{row.name}.config.json"   # the 2019 config with this machine's data paths
    write_text_atomic(local, json.dumps(cfg))
    try:
        ensure_data(Job(row, 0, None, Path(), results, mnist=mnist))
        log(f"{row.name}: measuring the 2019 weights {weights.name}")
        measured = measure_run(local, weights=weights, limit=limit, kmeans=False)
    finally:
        local.unlink(missing_ok=True)
    measured.pop("config")
    record = {"row": row.name, **measured, "limit": limit, "weights": str(weights), "sha256": WEIGHTS[row.name][2],
              "git_commit": git_commit()}
    write_text_atomic(path, json.dumps(record, indent=2, default=str))
    return record


# ---------------------------------------------------------------------------------------------- the table

def _fmt(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _duration(seconds) -> str:
    if not seconds:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _mean_sd(values: list) -> tuple[Optional[float], Optional[float]]:
    import numpy as np

    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return float(np.mean(values)), (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def _ms(values: list) -> str:
    mean, sd = _mean_sd(values)
    return _fmt(mean) + (f" ± {sd:.4f}" if sd is not None else "")


def load_records(results: Path) -> dict[str, list[dict]]:
    """{row: [records of its seeds]} from results/<recipe>/*.json, in the Table's row order."""
    found = {}
    for path in sorted(results.glob("*.json")):
        record = _read_json(path)
        if record.get("row") in BY_NAME and "measures" in record:
            found.setdefault(record["row"], []).append(record)
    return {row.name: found[row.name] for row in ROWS if row.name in found}


def table_rows(records: dict[str, list[dict]], pretrained: dict[str, dict]) -> list[dict]:
    """One flat dict per row: ours (mean over seeds), the paper, the 2019 weights, k-means, cost."""
    out = []
    for name, recs in records.items():
        row = BY_NAME[name]
        line = {"row": name, "title": row.title, "seeds": len(recs)}
        for (key, _), paper in zip(MEASURES, row.paper):
            mean, sd = _mean_sd([r["measures"].get(key) for r in recs])
            line.update({key: mean, f"{key}_sd": sd, f"paper_{key}": paper,
                         f"delta_{key}": None if mean is None else mean - paper,
                         f"weights2019_{key}": (pretrained.get(name) or {}).get("measures", {}).get(key)})
        for key in ("nmi", "acc"):
            line[key] = _mean_sd([r["measures"].get(key) for r in recs])[0]
        for kind in ("objects", "canvases"):
            for key in ("nmi", "acc", "purity"):
                line[f"kmeans_{kind}_{key}"] = _mean_sd([r["kmeans"].get(kind, {}).get(key) for r in recs])[0]
        prov = [r["provenance"] for r in recs]
        line.update(training_canvases=prov[0]["training_canvases"],
                    train_wall_s=_mean_sd([p["train_wall_s"] for p in prov])[0],
                    canvases_per_s=_mean_sd([p["canvases_per_s"] for p in prov])[0],
                    test_canvases=recs[0]["test_canvases"], cpu=prov[0]["cpu"], data=recs[0].get("data"),
                    _records=recs)
        out.append(line)
    return out


def markdown(lines: list[dict], recipe: str) -> str:
    head = ("| row | seeds | ours CorLoc / IoU / purity | paper | 2019 weights here | ours − paper | ours NMI / acc | "
            "k-means on true crops NMI / acc / purity | k-means on canvases NMI / acc / purity | training canvases | "
            "training time | test canvases |")
    rule = "|" + "---|" * (head.count("|") - 1)
    body = []
    for line in lines:
        recs = line["_records"]
        ours = " / ".join(_ms([r["measures"].get(k) for r in recs]) for k, _ in MEASURES)
        paper = " / ".join(_fmt(line[f"paper_{k}"]) for k, _ in MEASURES)
        w2019 = " / ".join(_fmt(line[f"weights2019_{k}"]) for k, _ in MEASURES) \
            if any(line[f"weights2019_{k}"] is not None for k, _ in MEASURES) else "—"
        delta = " / ".join("—" if line[f"delta_{k}"] is None else f"{line[f'delta_{k}']:+.4f}" for k, _ in MEASURES)
        kmo = " / ".join(_fmt(line[f"kmeans_objects_{k}"]) for k in ("nmi", "acc", "purity"))
        kmc = " / ".join(_fmt(line[f"kmeans_canvases_{k}"]) for k in ("nmi", "acc", "purity"))
        title = line["title"] + (f" ({line['data']})" if line["data"] else "")
        body.append(f"| {title} | {line['seeds']} | {ours} | {paper} | {w2019} | {delta} | "
                    f"{_fmt(line['nmi'])} / {_fmt(line['acc'])} | {kmo} | {kmc} | {line['training_canvases']:,} | "
                    f"{_duration(line['train_wall_s'])} | {line['test_canvases']:,} |")
    cpus = sorted({str(line["cpu"]) for line in lines})
    notes = (f"\nRecipe `{recipe}`. Measured as `python -m stampnet.evaluate` does: τ = 1e-4, Gumbel noise drawn "
             "(seed 0), greedy matching; mean ± standard deviation over seeds where there are several. k-means "
             "(scikit-learn, n_init = 10, the row's K) is fit and scored on the test set: on crops at the true "
             "positions (it is given the localisation: an upper reference) and on the raw canvases (every object "
             "of a canvas gets the canvas's cluster). Training time is the wall time of the run's training "
             f"on {', '.join(cpus)}. Written by `python -m stampnet.table --recipe {recipe}` from "
             "the JSON files beside this one.\n")
    return "\n".join([head, rule, *body]) + "\n" + notes


CSV_COLUMNS = ("row", "seeds", "cor_loc", "cor_loc_sd", "iou", "iou_sd", "purity", "purity_sd", "nmi", "acc",
               "paper_cor_loc", "paper_iou", "paper_purity", "weights2019_cor_loc", "weights2019_iou",
               "weights2019_purity", "delta_cor_loc", "delta_iou", "delta_purity", "kmeans_objects_nmi",
               "kmeans_objects_acc", "kmeans_objects_purity", "kmeans_canvases_nmi", "kmeans_canvases_acc",
               "kmeans_canvases_purity", "training_canvases", "train_wall_s", "canvases_per_s", "test_canvases",
               "cpu", "data")


def table_csv(lines: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for line in lines:
        writer.writerow({k: ("" if line.get(k) is None else line[k]) for k in CSV_COLUMNS})
    return out.getvalue()


def table_figure(lines: list[dict], path: Path) -> None:
    """CorLoc, IoU and purity per row: ours (with the spread over seeds) beside the paper."""
    import numpy as np

    from stampnet.figures import _new_figure, _save

    fig = _new_figure(3.2 * len(MEASURES), 3.4)
    x = np.arange(len(lines))
    for i, (key, label) in enumerate(MEASURES):
        ax = fig.add_subplot(1, len(MEASURES), i + 1)
        ours = np.array([np.nan if line[key] is None else line[key] for line in lines], dtype=float)
        sd = np.array([line[f"{key}_sd"] or 0.0 for line in lines], dtype=float)
        ax.bar(x - 0.2, [line[f"paper_{key}"] for line in lines], 0.4, label="paper", color="#bbbbbb")
        ax.bar(x + 0.2, ours, 0.4, yerr=sd, label="ours", color="#1f77b4")
        ax.set_xticks(x, [line["title"] for line in lines], rotation=60, ha="right", fontsize=7)
        ax.set_ylim(0.0, 1.05)
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    _save(fig, path)


def write_table(results: Path, recipe: str, pretrained: dict) -> list[Path]:
    from stampnet.cli import write_text_atomic

    lines = table_rows(load_records(results), pretrained)
    if not lines:
        return []
    written = [write_text_atomic(results / "table.md", markdown(lines, recipe)),
               write_text_atomic(results / "table.csv", table_csv(lines))]
    table_figure(lines, results / "table.png")
    return written + [results / "table.png"]


def readme_block(results_root: Path, recipe: str) -> str:
    """The README's results block: per row the paper, the 2019 weights measured here and ours."""
    records = load_records(results_root / recipe)
    pretrained = {row.name: _read_json(results_root / "2019" / f"{row.name}.json") for row in ROWS}
    lines = ["| experiment | measured on | CorLoc | IoU | purity |", "|---|---|---|---|---|"]
    for row in ROWS:
        lines.append(f"| {row.title} | paper | " + " | ".join(_fmt(v) for v in row.paper) + " |")
        old = pretrained.get(row.name) or {}
        if "measures" in old:
            n = f", {old['test_canvases']:,} test canvases" if old.get("limit") else ""
            lines.append(f"| | 2019 weights, evaluated here{n} | "
                         + " | ".join(_fmt(old["measures"].get(k)) for k, _ in MEASURES) + " |")
        recs = records.get(row.name)
        if recs:
            canvases = recs[0]["provenance"]["training_canvases"]
            seeds = f", {len(recs)} seeds" if len(recs) > 1 else ""
            n = f", {recs[0]['test_canvases']:,} test canvases" if recs[0].get("limit") else ""
            lines.append(f"| | trained here, `{recipe}` ({canvases / 1e6:.2f} M canvases{seeds}{n}) | "
                         + " | ".join(_ms([r["measures"].get(k) for r in recs]) for k, _ in MEASURES) + " |")
        else:
            lines.append(f"| | trained here, `{recipe}` | not yet | | |")
    return "\n".join(lines)


def render_readme(readme: Path, results_root: Path, recipe: str) -> bool:
    """Rewrite the block between the results markers of ``readme``; True when it changed."""
    from stampnet.cli import write_text_atomic

    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ConfigError(f"{readme} has no {README_BEGIN} … {README_END} block to render into")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_BEGIN}\n{readme_block(results_root, recipe)}\n{README_END}{tail}"
    if new != text:
        write_text_atomic(readme, new)
    return new != text


# ---------------------------------------------------------------------------------------------- the command

def run_job(job: Job) -> Optional[dict]:
    """Train (or resume, or adopt) and measure one row and seed; reuses its results file when it was measured
    from the same run with the same limit. None when the row is being trained elsewhere."""
    run = train_row(job)
    if run is None:
        return None
    old = _read_json(job.result_file)
    if not job.force and old.get("provenance", {}).get("run_folder") == str(run) and old.get("limit") == job.limit:
        log(summary(old))
        return old
    return measure_row(job, run)


def parse_rows(text: str) -> list[Row]:
    if text == "all":
        return list(ROWS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown row(s) {', '.join(unknown) or repr(text)}; choose from "
                                         f"{', '.join(BY_NAME)} (comma-separated) or all")
    return [BY_NAME[n] for n in names]


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds are indices >= 0 separated by commas (e.g. 0,1,2), got {text!r}")
    return seeds


def parse_recipe(text: str) -> Optional[str]:
    return None if text in ("none", "2019") else text


def recipes() -> list[str]:
    """The named configs of stamp_network.py (read from its source: ``@ex.named_config`` functions)."""
    tree = ast.parse((REPO_ROOT / "stamp_network.py").read_text())
    return [node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
            and any(ast.unparse(d) == "ex.named_config" for d in node.decorator_list)]


def main(argv=None) -> int:
    from stampnet import cli

    parser = cli.ArgumentParser(prog="python -m stampnet.table", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=parse_recipe, default="fast",
                        help="named config of every row: fast (default), cpu, quick (a smoke run), or none for "
                             "the 2019 schedule")
    parser.add_argument("--rows", type=parse_rows, default=list(ROWS), metavar="R1,R2|all",
                        help=f"rows to run (default all: {', '.join(BY_NAME)})")
    parser.add_argument("--seeds", type=parse_seeds, default=[0], metavar="0,1,2",
                        help="seed indices (0: the script's seed; N: that seed + N); default 0")
    parser.add_argument("--runs", type=Path, default=Path(os.environ.get("STAMPNET_RUNS", "runs")),
                        help="root of the run folders (default $STAMPNET_RUNS or runs)")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "results",
                        help="where results/<recipe>/ goes (default results/ of the repository)")
    parser.add_argument("--mnist", help="mnist.npz or IDX folder for the MNIST rows and the CT-MNIST files "
                                        "(default: keras.datasets' download and cache)")
    parser.add_argument("--limit", type=cli.positive_int, help="measure only the first N test canvases")
    parser.add_argument("--force", action="store_true", help="train and measure again even where a finished "
                                                             "run or results file exists")
    parser.add_argument("--no-2019", dest="with_2019", action="store_false",
                        help="leave out the column of the authors' weights")
    parser.add_argument("--only-2019", action="store_true",
                        help="only measure the authors' weights of the rows (results/2019/); train nothing")
    parser.add_argument("--with", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="more Sacred overrides for every new run (e.g. run_parameters.epochs=2)")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite README.md's results block from results/<recipe>/ and results/2019/")
    args = parser.parse_args(argv)
    if args.recipe is not None and args.recipe not in recipes():
        parser.error(f"argument --recipe: unknown named config {args.recipe!r}; choose from "
                     f"{', '.join(recipes())} or none")
    if args.mnist and not Path(args.mnist).exists():
        parser.error(f"argument --mnist: {args.mnist!r} does not exist; give an mnist.npz or a folder of IDX files")
    recipe = recipe_folder(args.recipe)
    results = args.results / recipe
    if args.render:
        try:
            changed = render_readme(REPO_ROOT / "README.md", args.results, recipe)
        except ConfigError as err:
            return cli.fail(str(err))
        log(f"README.md {'rewritten' if changed else 'already up to date'} from {results}")
        return 0
    mnist = str(Path(args.mnist).resolve()) if args.mnist else None
    runs = args.runs.resolve() / recipe
    jobs = [Job(row, s, args.recipe, runs / f"seed{s}" if s else runs, results, tuple(args.overrides), mnist,
                args.limit, args.force) for row in args.rows for s in args.seeds]
    log(f"{len(jobs)} row(s) × seed(s) with recipe {recipe}; runs in {runs}, results in {results}")
    failed, pending = [], []
    for job in () if args.only_2019 else jobs:
        try:
            if run_job(job) is None:
                pending.append(job.label)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            failed.append(job.label)
    pretrained = {row.name: _read_json(args.results / "2019" / f"{row.name}.json") for row in ROWS}
    for row in args.rows if args.with_2019 or args.only_2019 else ():
        try:
            pretrained[row.name] = measure_2019(row, args.results / "2019", mnist, args.limit)
        except ConfigError as err:
            print(f"error: 2019 weights of {row.name}: {err}", file=sys.stderr, flush=True)
    for path in write_table(results, recipe, pretrained):
        log(f"wrote {path}")
    if pending:
        log(f"still training elsewhere: {', '.join(pending)}")
    if failed:
        return cli.fail(f"{len(failed)} row(s) did not finish: {', '.join(failed)}; run the same command again "
                        "to resume them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
