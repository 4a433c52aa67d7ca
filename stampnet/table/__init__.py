"""The paper's Table from scratch: ``python -m stampnet.table``.

For every row (Simple Shapes-1/-2, T-MNIST-1/-2, CT-MNIST-1/-2, pedestrian; with ``--rows`` also the
multi-object benchmarks Tetrominoes and Multi-dSprites, on look-alike sets unless ``--data DIR`` holds the
official files) and seed it trains the row's experiment (``python -m stampnet.run <experiment>``) with one named
config (``--recipe``, default ``fast``) unless a finished run is there, resumes an interrupted one from its
training state (``with resume_from=…``: the same numbers as an uninterrupted run), then measures the run as
``python -m stampnet.evaluate`` does (its test split, τ = 1e-4, Gumbel noise drawn from seed 0, greedy
matching) beside two k-means references with the same K. It writes

- ``results/<recipe>/<row>[-seed<N>].json``: the measures with their provenance (commands, config, training
  canvases, wall time, canvases/s, backend, CPU, git commit, run folders);
- ``results/<recipe>/table.md``, ``table.csv`` and ``table.png``: ours beside the paper and the 2019 weights;
- ``results/2019/<row>.json``: the authors' published weights measured here, where the files can be had
  (Keras cache, download or ``STAMPNET_WEIGHTS_URL``; ``--no-2019`` skips them).

Runs live in ``<runs>/<recipe>/<row>/<id>`` (seed N ≥ 1: ``<runs>/<recipe>/seed<N>/<row>/<id>``); ``--runs``
defaults to ``$STAMPNET_RUNS`` or ``runs``, ``--results`` to ``results``, both in the current folder, where the
rows' relative data paths (``data/…``) are read too. Seed 0 is the experiment's own seed; seed N ≥ 1 is that
seed + N.
Stopping the command (Ctrl-C, a kill) loses at most the epoch in progress: run it again to continue.
``--render`` writes table.md/csv/png from the results files and rewrites every rendered block of README.md
and docs/*.md in the current folder (or ``--root``; ``stampnet.render``).

The package: the rows and a job here, training and measuring in ``run``, the files in ``render``, the command
line in ``__main__``. Examples::

    python -m stampnet.table                                  # the whole Table with fast
    python -m stampnet.table --rows simple_shapes_2 --seeds 0,1,2
    python -m stampnet.table --recipe quick --limit 500       # a smoke run of minutes per row
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

TABLE_MEASURES = ("cor_loc", "iou", "purity")        # the paper's Table
BENCHMARK_MEASURES = ("ari_fg", "miou", "purity")    # the multi-object benchmarks (purity where labels exist)


def columns(keys) -> tuple:
    """((key, title), …) of measures declared in ``stampnet.metrics.MEASURES``."""
    from stampnet.metrics import BY_KEY

    return tuple((key, BY_KEY[key].title) for key in keys)


MEASURES = columns(TABLE_MEASURES)


@dataclass(frozen=True)
class Reported:
    """A number another method's paper reports on a row's data set (the official files)."""
    method: str
    measure: str                                # a key of stampnet.metrics.MEASURES
    value: float
    sd: Optional[float]
    source: str                                 # the paper and its table


# What a row's data needs before training: nothing; MNIST (read from --mnist); or a CT-MNIST file generated first.
DATA_KINDS = ("", "mnist", "ct_mnist")


@dataclass(frozen=True)
class Row:
    name: str                                   # the row's name (its results file)
    title: str
    paper: dict                                 # measure key -> the StampNet paper's value ({}: not in the paper)
    data: str = ""                              # one of DATA_KINDS
    budget: dict = field(default_factory=dict)  # recipe -> extra overrides (a row's longer allowance)
    measures: tuple = TABLE_MEASURES            # the row's columns
    script: str = ""                            # the experiment script without .py (default: the name)
    overrides: tuple = ()                       # `with` overrides of every run of the row (a variant)
    official: str = ""                          # the official file's name, read from --data DIR when there
    reported: tuple = ()                        # Reported numbers of other methods
    targets: dict = field(default_factory=dict)  # measure key -> what the `fast` recipe aims at (≥)

    def __post_init__(self):
        if self.data not in DATA_KINDS:
            raise ValueError(f"Row {self.name!r}: data must be one of {DATA_KINDS}, got {self.data!r}")

    def meets(self, measures: dict) -> Optional[bool]:
        """Whether ``measures`` reach every target of the row (None: the row has none, or a measure is missing)."""
        if not self.targets or any(measures.get(k) is None for k in self.targets):
            return None
        return all(measures[k] >= v for k, v in self.targets.items())

    @property
    def experiment(self) -> str:
        return self.script or self.name


_SA = "Locatello et al. 2020 (Slot Attention), Table 1"


def _targets(cor_loc, iou, purity) -> dict:
    return {"cor_loc": cor_loc, "iou": iou, "purity": purity}


ROWS = (
    Row("simple_shapes_1", "Simple Shapes-1", {"cor_loc": 0.9999, "iou": 0.9718, "purity": 0.9928},
        targets=_targets(0.99, 0.96, 0.97)),
    Row("simple_shapes_2", "Simple Shapes-2", {"cor_loc": 0.9828, "iou": 0.9500, "purity": 0.9564},
        budget={"fast": ("run_parameters.epochs=120",)}, targets=_targets(0.975, 0.94, 0.945)),
    Row("t_mnist_1", "T-MNIST-1", {"cor_loc": 0.9983, "iou": 0.8925, "purity": 0.7891}, "mnist",
        targets=_targets(0.99, 0.88, 0.77)),
    Row("t_mnist_2", "T-MNIST-2", {"cor_loc": 0.9729, "iou": 0.8537, "purity": 0.5277}, "mnist",
        targets=_targets(0.96, 0.84, 0.51)),
    Row("ct_mnist_1", "CT-MNIST-1", {"cor_loc": 0.9972, "iou": 0.8912, "purity": 0.8113}, "ct_mnist",
        {"fast": ("run_parameters.epochs=120",)}, targets=_targets(0.99, 0.88, 0.79)),
    Row("ct_mnist_2", "CT-MNIST-2", {"cor_loc": 0.9545, "iou": 0.8394, "purity": 0.6149}, "ct_mnist",
        {"fast": ("run_parameters.epochs=120",)}, targets=_targets(0.945, 0.83, 0.60)),
    Row("pedestrian", "Pedestrian", {"cor_loc": 0.7816, "iou": 0.6308, "purity": 0.9597},
        targets=_targets(0.80, 0.70, 0.85)),
)
# DeepMind's multi-object benchmarks: not in the StampNet paper; beside what other methods report on them.
BENCHMARKS = (
    Row("tetrominoes", "Tetrominoes", {}, budget={"fast": ("run_parameters.epochs=120",)}, measures=BENCHMARK_MEASURES,
        official="tetrominoes_train.tfrecords",
        targets={"ari_fg": 0.99, "purity": 0.95},
        reported=(Reported("Slot Attention", "ari_fg", 0.995, 0.002, _SA),
                  Reported("IODINE", "ari_fg", 0.992, 0.004, _SA))),
    Row("multi_dsprites-binarized", "Multi-dSprites binarized", {}, measures=BENCHMARK_MEASURES,
        script="multi_dsprites", overrides=("run_parameters.img_type_parameters.variant=binarized",),
        official="multi_dsprites_binarized.tfrecords", targets={"ari_fg": 0.90}),
    Row("multi_dsprites-colored_on_grayscale", "Multi-dSprites coloured on greyscale", {},
        measures=BENCHMARK_MEASURES, script="multi_dsprites",
        overrides=("run_parameters.img_type_parameters.variant=colored_on_grayscale",
                   "layer_parameters.input_parameters.img_channels=3",
                   "layer_parameters.decoder_parameters.stamps_per_canvas=5",
                   "layer_parameters.decoder_parameters.background=True"),
        official="multi_dsprites_colored_on_grayscale.tfrecords", targets={"ari_fg": 0.85},
        reported=(Reported("Slot Attention", "ari_fg", 0.913, 0.003, _SA),
                  Reported("IODINE", "ari_fg", 0.767, 0.056, _SA),
                  Reported("MONet", "ari_fg", 0.904, 0.008, _SA))),
)
ALL_ROWS = ROWS + BENCHMARKS
BY_NAME = {row.name: row for row in ALL_ROWS}


@dataclass(frozen=True)
class Job:
    """One row and seed of the Table, with everything needed to train and measure it (picklable)."""
    row: Row
    seed_index: int
    recipe: Optional[str]        # a named config (stampnet.experiments); None: the 2019 schedule
    runs: Path                   # <runs>/<recipe>[/seed<N>]: STAMPNET_RUNS of the training
    results: Path                # results/<recipe>
    overrides: tuple = ()        # more `with` overrides for every row
    mnist: Optional[str] = None
    limit: Optional[int] = None
    force: bool = False
    data: Optional[Path] = None  # --data DIR: the official files of the benchmark rows
    curve: bool = True           # measure every checkpoint for the canvases to target (--no-curve: not)

    @property
    def label(self) -> str:
        return self.row.name + (f"-seed{self.seed_index}" if self.seed_index else "")

    @property
    def stampnet_runs(self) -> Path:
        """STAMPNET_RUNS of the row's training: ``runs``, or ``runs/<row>`` for a row that shares its script with
        others (a variant), so that each row's runs are its own."""
        return self.runs if self.row.experiment == self.row.name else self.runs / self.row.name

    @property
    def run_folder(self) -> Path:
        """Where the row's runs are: ``<stampnet_runs>/<script>``."""
        return self.stampnet_runs / self.row.experiment

    @property
    def result_file(self) -> Path:
        return self.results / f"{self.label}.json"


def recipe_folder(recipe: Optional[str]) -> str:
    return recipe or "2019"


def log(message: str) -> None:
    print(f"[table] {message}", flush=True)
