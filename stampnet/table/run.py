"""Training, resuming and measuring one row and seed of the Table (a :class:`~stampnet.table.Job`), in this
process or as Ray tasks."""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Optional

try:
    import fcntl
except ImportError:  # not POSIX: no row locks, Sacred's heartbeat alone tells a row in progress
    fcntl = None

from stampnet import ConfigError
from stampnet.bench.flops import cpu_name
from stampnet.runs import (home_relative, is_finished, is_live, read_json, resumable, run_chain, run_folders,
                           timestamp)
from stampnet.table import BY_NAME, Job, Row, columns, log, recipe_folder
from stampnet.table.render import duration, fmt, read_record

CLUSTER_TIMEOUT_S = 10  # how long --cluster ADDRESS may take to answer before the table gives up
BAD_INPUT = 2           # the exit code of a training that refused its config or data (one `error:` line)
PACKAGE_PATH = str(Path(__file__).resolve().parents[2])  # the folder that holds the package this table imported


def with_package(env: dict) -> dict:
    """``env`` with PYTHONPATH led by :data:`PACKAGE_PATH`, so that a training imports the same package."""
    return {**env, "PYTHONPATH": os.pathsep.join([PACKAGE_PATH, *filter(None, [env.get("PYTHONPATH")])])}


def experiment_seed(name: str) -> int:
    """The ``"seed"`` of experiment ``name``'s config (``stampnet.experiments``)."""
    from stampnet import experiments

    seed = experiments.config(name).get("seed")
    if not isinstance(seed, int):
        raise ConfigError(f"stampnet/experiments/{name}.py sets no seed in its CONFIG; add \"seed\": <int> to it")
    return seed


def official_file(job: Job) -> Optional[Path]:
    """The official file of a benchmark row in ``--data DIR``, when it is there."""
    if not (job.data and job.row.official):
        return None
    path = Path(job.data).expanduser() / job.row.official
    return path if path.is_file() else None


def data_overrides(job: Job) -> list[str]:
    if job.mnist and job.row.data == "mnist":
        return [f"run_parameters.mnist_path={job.mnist}"]
    official = official_file(job)
    return [f"run_parameters.img_type_parameters.data_path={official.resolve()}"] if official else []


def ensure_data(job: Job) -> None:
    """CT-MNIST rows read a generated file: make the missing 2019 files first, in data/cluttered_mnist/ of the
    current folder (as ``python generate_cluttered_mnist.py`` does)."""
    if job.row.data != "ct_mnist":
        return
    from stampnet.data.cluttered import DATA_DIR, default_file_name, generate_cluttered_mnist, save_npz_atomic
    from stampnet.data.mnist import load_mnist, source_name

    missing = [n for n in (1, 2) if not (DATA_DIR / default_file_name(n)).is_file()]
    if not missing:
        return
    log(f"{job.label}: making the CT-MNIST files {', '.join(default_file_name(n) for n in missing)} in {DATA_DIR} "
        f"from {job.mnist or 'keras.datasets.mnist'}")
    try:
        mnist = load_mnist(job.mnist)
        for n in missing:
            save_npz_atomic(DATA_DIR / default_file_name(n),
                            generate_cluttered_mnist(mnist, n, progress=True, source=source_name(job.mnist)))
    except ConfigError as err:
        raise ConfigError(f"could not make the CT-MNIST files ({err}); offline, pass --mnist PATH") from None
    except OSError as err:
        raise ConfigError(f"could not write the CT-MNIST files in {DATA_DIR} ({err.strerror or err}); run the "
                          "table from a folder you can write") from None


def train_command(job: Job, resume: Optional[Path]) -> list[str]:
    """The row's training through the package: ``python -m stampnet.run <experiment> with …``."""
    words = [sys.executable, "-m", "stampnet.run", job.row.experiment, "with"]
    if resume is not None:
        return words + [f"resume_from={resume}"]  # the stored config carries the recipe and every override
    words += [job.recipe] if job.recipe else []
    words += list(job.row.budget.get(job.recipe, ())) + list(job.row.overrides) + data_overrides(job)
    words += list(job.overrides)
    if job.seed_index:
        words.append(f"seed={experiment_seed(job.row.experiment) + job.seed_index}")
    return words


def _die_with_parent() -> None:
    """In the training process (Linux): end when the process that started it dies, as a killed cluster worker,
    so that the retried task does not find its row still trained by an orphan."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def train_row(job: Job) -> Optional[Path]:
    """Train (or resume, or adopt) the run of ``job``; returns its finished run folder, or None when another
    process is training it now."""
    folder = job.run_folder
    runs = run_folders(folder)
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
    log(f"{job.label}: {what}: {' '.join(['python', *command[1:]])}")
    env = with_package({**os.environ, "STAMPNET_RUNS": str(job.stampnet_runs)})
    returncode = subprocess.run(command, env=env, preexec_fn=_die_with_parent).returncode
    if returncode == BAD_INPUT:
        raise ConfigError(f"training {job.label} refused its config or data (its `error:` line above says which "
                          "key or file); fix that in --with, --recipe or --mnist (or the file) and run the table "
                          "again")
    if returncode != 0:
        raise ConfigError(f"training {job.label} stopped with exit code {returncode} (its output is above; "
                          f"run folders in {folder}); run the table again to resume it")
    finished = [r for r in run_folders(folder) if is_finished(r)]
    if not finished:
        raise ConfigError(f"training {job.label} ended without a finished run in {folder}")
    return finished[-1]


def git_commit() -> Optional[str]:
    """The commit of the git checkout the package's files belong to; None for an installed package (its files
    tracked by no checkout) or without git."""
    package = Path(__file__).resolve().parents[1]
    try:
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", "__init__.py"], cwd=package,
                                 capture_output=True, text=True, timeout=10)
        if tracked.returncode != 0:
            return None
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def kmeans_references(spec, test) -> dict:
    """The Table's k-means references with StampNet's K (``stampnet.baselines``) of a run's ``spec``
    (``stampnet.spec.RunSpec``); none without labels."""
    from stampnet.baselines import kmeans_on_canvases, kmeans_on_objects

    if test.labels is None or test.coords is None:
        return {}
    K, seed = spec.model.n_stamps, spec.train.seed
    return {"objects": kmeans_on_objects(test, K, spec.model.stamp_size, seed),
            "canvases": kmeans_on_canvases(test, K, seed)}


def shown_path(path, root: Optional[Path] = None) -> str:
    """``path`` as a results file shows it: under the runs folder ``root`` as ``<root shown>/<rest>``, under the
    home folder with ``~``, elsewhere by its name (``.../<name>``): never an absolute path of this machine."""
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    if root is not None and p.is_relative_to(root):
        return str(Path(shown_path(root)) / p.relative_to(root))
    shown = home_relative(p)
    return shown if not Path(shown).is_absolute() else f".../{p.name}"


def portable(value, root: Optional[Path] = None):
    """``value`` (a record, a config: dicts, lists, strings) with every string that is an absolute path shown
    by :func:`shown_path`."""
    if isinstance(value, dict):
        return {k: portable(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v, root) for v in value]
    if isinstance(value, str) and "\n" not in value and Path(value).is_absolute():
        return shown_path(value, root)
    return value


def runs_root(job: Job) -> Path:
    """The runs folder a row's run folders are recorded against: ``--runs``, above ``<recipe>[/seed<N>]``."""
    root = job.runs.absolute()
    if job.seed_index and root.name == f"seed{job.seed_index}":
        root = root.parent
    return root.parent if root.name == recipe_folder(job.recipe) else root


def relative_folder(path: Path, root: Optional[Path]) -> str:
    """``path`` relative to the runs folder ``root`` (``fast/pedestrian/1``) when below it, else
    :func:`shown_path`."""
    path = path.absolute()
    return str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else shown_path(path)


def run_place(job: Job, run: Path) -> dict:
    """Where the run of ``job`` is, as its results file says: ``runs_root`` (``~/stampnet-runs``) and
    ``run_folder`` relative to it (``fast/pedestrian/1``)."""
    root = runs_root(job)
    return {"runs_root": shown_path(root), "run_folder": relative_folder(run, root)}


def provenance(run: Path, train, root: Optional[Path] = None) -> dict:
    """How the run of a row was made (``train``: its ``stampnet.spec.TrainSpec``): its chain of run folders
    (relative to the runs folder ``root`` when given) with their commands and wall times; no absolute path
    (:func:`portable`)."""
    chain = run_chain(run)
    root = root.absolute() if root is not None else None
    parts, wall = [], 0.0
    for part in chain:
        info = portable(read_json(part / "run.json"), root)
        # a run that was killed has no stop time: its last heartbeat is when it stopped training
        start, stop = (timestamp(info.get(key)) for key in ("start_time", "stop_time"))
        stop = stop or timestamp(info.get("heartbeat"))
        seconds = (stop - start).total_seconds() if start and stop else None
        wall += seconds or 0.0
        meta = info.get("meta", {})
        parts.append({"folder": relative_folder(part, root), "command": typed_command(info),
                      "status": info.get("status"), "named_configs": meta.get("named_configs"),
                      "config_updates": meta.get("config_updates"), "wall_s": seconds,
                      "cpu": info.get("host", {}).get("cpu"), "gpus": info.get("host", {}).get("gpus"),
                      "backend": read_json(part / "info.json").get("backend")})
    canvases = train.epochs * train.images_per_epoch
    where = {"runs_root": shown_path(root)} if root is not None else {}
    return {**where, "run_folder": relative_folder(run, root), "runs": parts, "commands": [p["command"] for p in parts],
            "training_canvases": canvases, "epochs": train.epochs,
            "train_wall_s": wall, "canvases_per_s": canvases / wall if wall else None,
            "backend": parts[-1]["backend"], "cpu": parts[-1]["cpu"], "gpus": parts[-1]["gpus"]}


def measure_run(target, weights=None, limit=None, kmeans=True) -> dict:
    """The measures of a run folder (or config.json + ``weights``) as ``stampnet.evaluate`` takes them, with
    the k-means references and how long it took; ``run``: the run as evaluate read it (``LoadedRun``)."""
    from stampnet.evaluate import evaluate

    start = time.time()
    result = evaluate(target, weights=weights, limit=limit)
    measures, loaded = result["measures"], result["run"]
    references = kmeans_references(loaded.spec, result["test"]) if kmeans else {}
    return {"measures": measures, "kmeans": references, "run": loaded, "test_canvases": len(result["test"]),
            "evaluate_s": time.time() - start}


def measure_row(job: Job, run: Path) -> dict:
    """Measure the finished run of ``job`` and write its results file."""
    from stampnet.cli import write_text_atomic

    log(f"{job.label}: measuring {run}" + (f" on the first {job.limit} test canvases" if job.limit else ""))
    measured = measure_run(run, limit=job.limit)
    loaded = measured.pop("run")
    spec = loaded.spec
    root = runs_root(job)
    record = {
        "row": job.row.name, "title": job.row.title, "recipe": recipe_folder(job.recipe),
        "seed_index": job.seed_index, "seed": spec.train.seed,
        "paper": dict(job.row.paper),
        "reported": [dataclasses.asdict(r) for r in job.row.reported],
        **measured, "limit": job.limit,
        "data": spec.data.note(),
        "curve": target_curve(job, loaded) if job.curve else None,
        "provenance": {**provenance(run, spec.train, root),
                       "evaluated_with": f"python -m stampnet.evaluate {shown_path(run.absolute(), root)}"
                                         + (f" --limit {job.limit}" if job.limit else ""),
                       "git_commit": git_commit(), "evaluated_on": cpu_name(),
                       "evaluated_at": datetime.now().isoformat(timespec="seconds"), "config": spec.config},
    }
    record = portable(json.loads(json.dumps(record, default=str)), root)  # measures.weights, config paths
    job.results.mkdir(parents=True, exist_ok=True)
    write_text_atomic(job.result_file, json.dumps(record, indent=2))
    log(summary(record))
    return record


def typed_command(info: dict) -> str:
    """A run's command line as typed (its run.json: the script, named configs and updates)."""
    meta, script = info.get("meta", {}), info.get("experiment", {}).get("name", "?")
    words = list(meta.get("named_configs") or []) + [f"{k}={v}" for k, v in _flat(meta.get("config_updates") or {})]
    return f"python {script}.py" + (" with " + " ".join(words) if words else "")


def _flat(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def summary(record: dict) -> str:
    row = BY_NAME[record["row"]]
    m, p = record["measures"], row.paper
    cols = columns(row.measures)
    ours = " / ".join(fmt(m.get(k)) for k, _ in cols)
    paper = f" (paper {' / '.join(fmt(p.get(k)) for k, _ in cols)})" if p else ""
    prov = record["provenance"]
    seed = record.get("seed_index")
    return (f"{record['row']}{'-seed%d' % seed if seed else ''}: {' / '.join(t for _, t in cols)} "
            f"{ours}{paper}; {prov['training_canvases']:,} canvases, {duration(prov['train_wall_s'])} of training")


def measure_2019(row: Row, results: Path, mnist: Optional[str], limit: Optional[int]) -> Optional[dict]:
    """The authors' weights of ``row`` measured here (results/2019/<row>.json, reused when it was measured
    with the same limit); None when the row has no published weights or the files cannot be had."""
    from stampnet.cli import write_text_atomic
    from stampnet.config import merge, read_raw_config
    from stampnet.pretrained import WEIGHTS, fetch

    if row.name not in WEIGHTS:
        return None
    path = results / f"{row.name}.json"
    cached = read_json(path)
    if cached.get("limit") == limit and "measures" in cached:
        return cached
    try:
        config, weights = fetch(row.name)
    except ConfigError as err:
        log(f"{row.name}: no 2019 weights ({err})")
        return None
    cfg = read_raw_config(config)  # validated once, where evaluate reads the copy below
    if mnist and row.data == "mnist":
        cfg = merge(cfg, {"run_parameters": {"mnist_path": mnist}})
    results.mkdir(parents=True, exist_ok=True)
    local = results / f".{row.name}.config.json"   # the 2019 config with this machine's data paths
    write_text_atomic(local, json.dumps(cfg))
    try:
        ensure_data(Job(row, 0, None, Path(), results, mnist=mnist))
        log(f"{row.name}: measuring the 2019 weights {weights.name}")
        measured = measure_run(local, weights=weights, limit=limit, kmeans=False)
    finally:
        local.unlink(missing_ok=True)
    measured.pop("run")
    record = {"row": row.name, **measured, "limit": limit, "weights": str(weights), "sha256": WEIGHTS[row.name][2],
              "git_commit": git_commit()}
    record = portable(json.loads(json.dumps(record, default=str)))  # ~/.keras/models/...: no path of this machine
    write_text_atomic(path, json.dumps(record, indent=2))
    return record


@contextmanager
def row_lock(job: Job):
    """Hold ``<runs>/<recipe>[/seed<N>]/<row>.lock`` exclusively (fcntl) while this process trains and measures
    the row: yields False at once when another process holds it. The lock goes with its process, however it
    ends, so there is no window (Sacred's first heartbeat comes 10 s after a run starts) and nothing stale."""
    if fcntl is None:
        yield True
        return
    job.runs.mkdir(parents=True, exist_ok=True)
    with open(job.runs / f"{job.row.name}.lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True  # released when the file closes


def target_curve(job: Job, loaded) -> Optional[dict]:
    """The row's measures at every checkpoint of the run ``loaded`` (a ``stampnet.runs.LoadedRun``, as
    ``evaluate --epochs all`` takes them, with the run's own BatchNorm recomputation) and the first training
    canvases at which it meets its targets (None: never). None for a row without targets."""
    from stampnet.evaluate import evaluate_epochs

    from stampnet.runs import checkpoints

    if not job.row.targets or not checkpoints(loaded.folder / "trained"):
        return None
    log(f"{job.label}: measuring every checkpoint of {loaded.folder} for the canvases to target")
    rows = evaluate_epochs(loaded, "all", limit=job.limit, precise_bn=loaded.spec.train.precise_bn)["rows"]
    keys = sorted(set(job.row.measures) | set(job.row.targets))
    points = [{"epoch": r["epoch"], "training_canvases": r["training_canvases"], **{k: r.get(k) for k in keys},
               "meets_target": job.row.meets(r)} for r in rows]
    first = next((p["training_canvases"] for p in points if p["meets_target"]), None)
    return {"targets": dict(job.row.targets), "checkpoints": points, "canvases_to_target": first}


def run_job(job: Job) -> Optional[dict]:
    """Train (or resume, or adopt) and measure one row and seed; reuses its results file when it was measured
    from the same run with the same limit. None when another process trains the row."""
    with row_lock(job) as mine:
        if not mine:
            log(f"{job.label}: another table process is training or measuring it ({job.runs / job.row.name}."
                "lock); skipped (run again when it has finished)")
            return None
        run = train_row(job)
        if run is None:
            return None
        try:
            old = read_record(job.result_file) if job.result_file.exists() else {}
        except ConfigError:
            old = {}  # measured again and rewritten below
        place = run_place(job, run)  # the same run folder under the same runs folder, the same limit
        same = {k: old.get("provenance", {}).get(k) for k in place} == place and old.get("limit") == job.limit
        if not job.force and same:
            log(summary(old))
            return old
        return measure_row(job, run)


def run_local(jobs: list[Job]) -> list[tuple[Job, Optional[dict], Optional[str]]]:
    """Every job in this process, one after another: (job, record or None, error or None)."""
    out = []
    for job in jobs:
        try:
            out.append((job, run_job(job), None))
        except ConfigError as err:
            out.append((job, None, str(err)))
    return out


def check_reachable(address: str, timeout: float = CLUSTER_TIMEOUT_S) -> None:
    """Refuse within ``timeout`` seconds a ``--cluster`` address (host:port, ray://host:port, or auto's) that does
    not answer: ``ray.init`` would wait for it without end. ``local`` starts a cluster here: nothing to reach."""
    if address == "local":
        return
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address
            target = canonicalize_bootstrap_address("auto")
        except Exception:  # Ray's own lookup; it names a missing cluster itself in ray.init
            return
        if target is None:
            return
    else:
        target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    try:
        port = int(port)
    except ValueError:
        raise ConfigError(f"--cluster {address!r} is not an address; give HOST:PORT (e.g. 10.0.0.5:6379), "
                          "ray://HOST:PORT, auto or local") from None
    try:
        socket.create_connection((host.strip("[]"), port), timeout=timeout).close()
    except OSError as err:
        reason = "no answer" if isinstance(err, TimeoutError) else (err.strerror or type(err).__name__)
        raise ConfigError(f"could not reach the Ray cluster at {address!r} within {timeout:.0f} s ({reason}); "
                          "start one with `ray start --head`, fix the address, or use --cluster local") from None


def run_cluster(jobs: list[Job], address: str) -> list[tuple[Job, Optional[dict], Optional[str]]]:
    """Every job as a Ray task (one GPU each where the cluster has GPUs, else one CPU); a task whose worker
    dies is run again (it resumes its row). Every node must see the package and the runs folder at the same
    paths (a shared file system); the workers import the package this process imported."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--cluster needs Ray: pip install -r requirements-cluster.txt")
    check_reachable(address)
    import ray

    try:
        ray.init(address=None if address == "local" else address, log_to_driver=True, include_dashboard=False,
                 runtime_env={"env_vars": {"PYTHONPATH": PACKAGE_PATH}})
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ConfigError(f"could not reach the Ray cluster at {address!r} ({str(err).splitlines()[0]}); start "
                          "one with `ray start --head`, or use --cluster local") from None
    gpus = ray.cluster_resources().get("GPU", 0)
    task = ray.remote(run_job).options(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1, max_retries=3)
    log(f"Ray cluster: {ray.cluster_resources().get('CPU', 0):.0f} CPUs, {gpus:.0f} GPUs; one "
        f"{'GPU' if gpus else 'CPU'} per row")
    pending = {task.remote(job): job for job in jobs}
    out = []
    try:
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ref)
            try:
                out.append((job, ray.get(ref), None))
            except Exception as err:  # the task's own error (a ConfigError inside RayTaskError) or a lost worker
                last = str(err).strip().splitlines()[-1]
                out.append((job, None, last.split("ConfigError: ", 1)[-1]))
    finally:
        ray.shutdown()
    return out


