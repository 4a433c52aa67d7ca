"""StampNet's Sacred experiment: ``python <experiment>.py with <overrides>``.

The experiment scripts (``ct_mnist_2.py`` …) import ``ex`` from here, add their 2019 configuration and call
``ex.run_commandline()``. Runs are stored in ``runs/<script>/<id>/`` (config.json, run.json, cout.txt,
metrics.json, trained/, board/, figures/). The environment variable STAMPNET_RUNS changes ``runs``.
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sacred import Experiment  # noqa: E402
from sacred.observers import FileStorageObserver  # noqa: E402

from stampnet import ConfigError  # noqa: E402
from stampnet.config import DEFAULTS  # noqa: E402


class StampExperiment(Experiment):
    """A Sacred experiment that reports a configuration problem as one line (exit code 2), not a traceback."""

    def run(self, *args, **kwargs):
        try:
            return super().run(*args, **kwargs)
        except ConfigError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)


def _experiment_name() -> str:
    main = Path(sys.argv[0]).stem if sys.argv and sys.argv[0].endswith(".py") else ""
    return main or "stamp_network"


ex = StampExperiment(_experiment_name(), save_git_info=False)
ex.add_config(DEFAULTS)
ex.observers.append(FileStorageObserver(os.path.join(os.environ.get("STAMPNET_RUNS", "runs"), ex.path)))


@ex.named_config
def quick():
    """A few minutes on 2 CPU cores: short schedule, fast annealing; architecture and data unchanged."""
    run_parameters = {"epochs": 6, "steps_per_epoch": 40, "validation_steps": 4, "checkpoint_period": 3,
                      "img_type_parameters": {"test_size": 256}}
    layer_parameters = {"input_parameters": {"batch_size": 32},
                        "decoder_parameters": {"gumbel_parameters": {"anneal_rate": 0.5, "steps_per_epoch": 40}}}


@ex.named_config
def cpu():
    """Under an hour on 2 CPU cores: 100 epochs × 128 steps, τ reaching its minimum by epoch ~60 (2019: 800–1000
    epochs, minimum at epoch ~360–700). Architecture, batch and data unchanged."""
    run_parameters = {"epochs": 100, "steps_per_epoch": 128, "validation_steps": 10, "checkpoint_period": 10}
    layer_parameters = {"decoder_parameters": {"gumbel_parameters": {"anneal_rate": 0.06, "steps_per_epoch": 128}}}


@ex.main
def main(_run, _config):
    from stampnet.train import train

    run_dir = next((o.dir for o in _run.observers if isinstance(o, FileStorageObserver)), None)
    if run_dir is None:
        raise ConfigError("no file-storage observer: run without -u/--unobserved so results have a run folder")
    config = {k: v for k, v in _config.items()}
    return train(config, run_dir, log_scalar=_run.log_scalar)


if __name__ == "__main__":
    ex.run_commandline()
