"""A tiny StampNet configuration for tests: 32×32 canvases of two 8×8 shapes, 2 encoder blocks, 8×8 stamps."""
import copy
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "seed": 3,
    "run_parameters": {
        "epochs": 2, "steps_per_epoch": 4, "validation_steps": 2, "checkpoint_period": 1,
        "img_type": "t_shape",
        "img_type_parameters": {"nr_img_per_canvas": 2, "overlap": True, "shape_size": 8, "test_size": 16,
                                "shapes_to_use": ["plus", "equal", "square"]},
        "n_figure_images": 2,
    },
    "layer_parameters": {
        "input_parameters": {"img_rows": 32, "img_cols": 32, "img_channels": 1, "batch_size": 8},
        "encoder_parameters": {"conv_layer_sizes": [8, 8], "final_conv_size": 32, "final_conv_kernel": [8, 8]},
        "decoder_parameters": {"nr_of_stamps": 4, "stamp_size": 8, "stamps_per_canvas": 2, "decoder_enc_size": 16,
                               "gumbel_parameters": {"tau_init": 2, "anneal_rate": 0.5, "min_temperature": 0.2,
                                                     "steps_per_epoch": 4}},
    },
}


def tiny(**run_parameters) -> dict:
    """A copy of TINY with ``run_parameters`` updated."""
    cfg = copy.deepcopy(TINY)
    cfg["run_parameters"].update(run_parameters)
    return cfg


def with_(cfg: dict, path: str, value) -> dict:
    """A copy of ``cfg`` with the dotted ``path`` set to ``value``."""
    cfg = copy.deepcopy(cfg)
    *parents, leaf = path.split(".")
    node = cfg
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return cfg


def overrides(cfg: dict, prefix: str = "") -> list[str]:
    """Sacred command-line overrides (``key.sub=value``, values as Python literals) that set every leaf of ``cfg``."""
    out = []
    for key, value in cfg.items():
        if isinstance(value, dict):
            out += overrides(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={value!r}")
    return out
