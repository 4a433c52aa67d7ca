"""Configuration: the 2019 keys and defaults, validation with one clear error each, derived values."""
from __future__ import annotations

import copy
import difflib
import json
import math
import sys
from pathlib import Path

from stampnet import ConfigError

DECODERS = ("separable", "conv")
DISTRIBUTE = (None, "mirrored")
# Keys that 2019 configs (and older runs of ours) carry and nothing here reads: accepted and ignored. Any other key
# that DEFAULTS lacks is a typo and stops the run (see unknown_keys).
IGNORED_KEYS = ("layer_parameters.loss",)
MIXED_PRECISION = ("float32", "mixed_float16", "mixed_bfloat16", "float16", "bfloat16")  # Keras' policy names

# Free-form dicts: their keys belong to the data loader of each img_type, not to DEFAULTS.
FREE_FORM_KEYS = ("run_parameters.img_type_parameters",)

# The defaults of every run; experiment scripts override them with the 2019 values of each experiment.
DEFAULTS: dict = {
    "seed": 0,
    "resume_from": None,     # a run folder: a new run that continues its training (stampnet/train.py)
    "reproduce_from": None,  # a run folder: a new run from scratch with its stored config
    "mongo_url": None,       # also record the run in MongoDB (or STAMPNET_MONGO_URL); runs/ stays on
    "mongo_db": None,
    "run_parameters": {
        "epochs": 1000,
        "steps_per_epoch": 128,
        "validation_steps": 100,
        "img_type": "t_shape",
        "img_type_parameters": {},
        "shuffle": False,
        "checkpoint_period": 10,
        "test_temperature": 1e-4,   # τ used by evaluate / figures (the 2019 notebook's value)
        "n_figure_images": 6,
        "jit_compile": "auto",      # XLA for the training step: true, false or "auto" (Keras: on with JAX and on
                                    # GPUs, off with TensorFlow on a CPU, where XLA is 10x slower here)
        "mixed_precision": None,    # None (float32) or a Keras policy name, e.g. "mixed_bfloat16"
        "mnist_path": None,         # None: keras.datasets.mnist (download + cache); or an mnist.npz / IDX folder
        "deterministic": None,      # deterministic kernels (stampnet/backend.py); None: on when no GPU is visible
        "distribute": None,         # None or "mirrored": data parallel over all GPUs (TF MirroredStrategy, JAX DataParallel)
        "precise_bn": 0,            # beyond 2019: after training, recompute the BatchNorm statistics without
                                    # dropout on this many training canvases (stampnet/recipe.py); 0: off
    },
    "layer_parameters": {
        "input_parameters": {"img_rows": 84, "img_cols": 84, "img_channels": 1, "batch_size": 64},
        "encoder_parameters": {
            "conv_layer_sizes": [16, 32, 64, 128, 128],
            "conv_kernel_size": [3, 3],
            "encoder_dropout_rate": 0.2,
            "final_conv_size": 256,
            "final_conv_kernel": [3, 3],
        },
        "decoder_parameters": {
            "decoder": "separable",
            "coord_tensor_size": None,  # derived: img - stamp_size + 1
            "decoder_enc_size": 128,
            "nr_of_stamps": 10,
            "stamp_size": 28,
            "stamps_per_canvas": 2,
            "overdraw_penalty": 0,  # beyond 2019 (stampnet/recipe.py): strength of a loss on clipped-away ink
            "overlap_penalty": 0,   # beyond 2019 (stampnet/recipe.py): strength of a loss on ink slots share
            "slot_ink_penalty": 0,  # beyond 2019 (stampnet/recipe.py): strength of a concave loss on each slot's ink
            "slot_ink_penalty_from": None,  # fraction of training from which it acts; None: from the start
            "centre_penalty": 0,    # beyond 2019 (stampnet/recipe.py): strength of a loss on each stamp's ink centroid
                                    # distance from its square's centre (px²)
            "centre_penalty_from": None,  # fraction of training from which it acts; None: from the start
            "binary_penalty": 0,    # beyond 2019: strength of a loss on the chosen stamps' grey ink, Σ s(1 − s)
            "background": False,    # beyond 2019 (stampnet/recipe.py): a per-canvas background colour, one more head
            "empty_stamp": False,   # beyond 2019 (stampnet/recipe.py): a fixed all-zero stamp as one more choice
            "colour_choices": 0,    # beyond 2019: P > 0 gives grey stamps and a fourth head per slot choosing one
                                    # of P learned colours (a slot's class: stamp k, colour p → k·P + p); 0: off
            "gumbel_parameters": {"tau_init": 7, "anneal_rate": 0.01, "min_temperature": 0.2,
                                  # None: the run's run_parameters.steps_per_epoch (2019 configs set both, equal)
                                  "steps_per_epoch": None,
                                  # Beyond 2019 (stampnet/recipe.py), off by default; fractions of training:
                                  "tau_schedule": None,           # [[0, τ0], [f1, τ1], …] log-linear knots
                                  "straight_through_from": None,  # hard forward, soft gradient from here on
                                  "usage_balance": 0},  # strength of a loss that balances stamp usage
        },
        "learning_rate": 0.002,  # Nadam; the Keras 2 default the authors used
        "learning_rate_decay_from": None,  # beyond 2019: cosine decay from this fraction of training on …
        "learning_rate_decay_to": 0.1,     # … down to learning_rate × this at the end
    },
}


def merge(base: dict, override: dict) -> dict:
    """Deep-merge ``override`` into a copy of ``base``."""
    out = copy.deepcopy(base)
    for k, v in (override or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def encoder_latent_size(size: int, n_blocks: int, final_kernel: int) -> int:
    """Spatial size after ``n_blocks`` 2x2 'same' max-poolings and a 'valid' final conv."""
    for _ in range(n_blocks):
        size = math.ceil(size / 2)
    return size - final_kernel + 1


def _require_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r} ({type(value).__name__}); "
                          f"e.g. `with {name}=2`")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _fits_float(value: int) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _require_number(value, name: str, minimum: float = 0.0, strict: bool = True, maximum: float = math.inf,
                    example="1") -> float:
    """A finite number > ``minimum`` (``strict``) or >= it, and < ``maximum``; else one ConfigError naming the fix."""
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
    if maximum < math.inf:
        bound += f" and < {maximum:g}"
    if isinstance(value, int) and not isinstance(value, bool) and not _fits_float(value):
        raise ConfigError(f"{name} must be a number {bound}, got an integer of {len(str(abs(value)))} digits, too "
                          f"large for a float; e.g. `with {name}={example}`")
    ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
          and (value > minimum if strict else value >= minimum) and value < maximum)
    if not ok:
        raise ConfigError(f"{name} must be a number {bound}, got {value!r}; e.g. `with {name}={example}`")
    return float(value)


def _known_paths(tree: dict = DEFAULTS, prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        out.append(prefix + key)
        if isinstance(value, dict) and value:
            out += _known_paths(value, f"{prefix}{key}.")
    return out


def unknown_keys(config: dict, tree: dict = DEFAULTS, prefix: str = "") -> list[str]:
    """The dotted keys of ``config`` that DEFAULTS lacks (IGNORED_KEYS and FREE_FORM_KEYS' contents aside)."""
    out = []
    for key, value in config.items():
        path = prefix + key
        if path in IGNORED_KEYS or key == "__doc__":  # Sacred stores named configs' docstrings as __doc__
            continue
        if key not in tree:
            out.append(path)
        elif isinstance(value, dict) and isinstance(tree[key], dict) and path not in FREE_FORM_KEYS:
            out += unknown_keys(value, tree[key], path + ".")
    return out


def nearest_key(path: str) -> str | None:
    """The known key most like ``path``: by the whole dotted path, or by its last part (a key put at the wrong
    level, e.g. run_parameters.tau_init)."""
    leaf = path.rsplit(".", 1)[-1]
    score = lambda known: max(difflib.SequenceMatcher(None, path, known).ratio(),
                              difflib.SequenceMatcher(None, leaf, known.rsplit(".", 1)[-1]).ratio())
    best = max(_known_paths(), key=score)
    return best if score(best) >= 0.75 else None


def _check_known_keys(config: dict) -> None:
    unknown = unknown_keys(config)
    if unknown:
        near = nearest_key(unknown[0])
        fix = f"did you mean {near}?" if near else "remove it (`python <experiment>.py print_config` lists every key)"
        more = f" (and {len(unknown) - 1} more: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
        raise ConfigError(f"unknown config key {unknown[0]}{more}; {fix}")


def _fraction(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{name} must be a fraction of training between 0 and 1, got {value!r}; e.g. "
                          f"`with {name}=0.9`")
    return float(value)


def _validate_recipe(gp: dict, lp: dict) -> None:
    """The training options beyond 2019 (stampnet/recipe.py)."""
    knots = gp["tau_schedule"]
    if knots is not None:
        name = "layer_parameters.decoder_parameters.gumbel_parameters.tau_schedule"
        ok = isinstance(knots, (list, tuple)) and len(knots) >= 1 and all(
            isinstance(k, (list, tuple)) and len(k) == 2 for k in knots)
        if ok:
            fractions = [_fraction(f, f"{name} (fraction)") for f, _ in knots]
            ok = fractions == sorted(fractions) and all(
                isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for _, t in knots)
        if not ok:
            raise ConfigError(f"{name} must be a list of [fraction of training, τ > 0] pairs with ascending "
                              f"fractions, e.g. [[0, 7], [0.7, 2], [0.9, 0.2]]; got {knots!r}")
    if gp["straight_through_from"] is not None:
        _fraction(gp["straight_through_from"], "layer_parameters.decoder_parameters.gumbel_parameters."
                                               "straight_through_from")
    decoder = "layer_parameters.decoder_parameters."
    _require_number(gp["usage_balance"], decoder + "gumbel_parameters.usage_balance", strict=False, example=10)
    for key in ("overdraw_penalty", "overlap_penalty", "slot_ink_penalty", "centre_penalty", "binary_penalty"):
        _require_number(lp["decoder_parameters"][key], decoder + key, strict=False, example=1)
    for key, example in (("slot_ink_penalty", 2), ("centre_penalty", 10)):
        if lp["decoder_parameters"][key + "_from"] is not None:
            _fraction(lp["decoder_parameters"][key + "_from"], decoder + key + "_from")
            if not lp["decoder_parameters"][key]:
                raise ConfigError(f"{decoder}{key}_from switches on a penalty that is off: set "
                                  f"{decoder}{key} > 0 too, e.g. {example}")
    if not isinstance(lp["decoder_parameters"]["background"], bool):
        raise ConfigError(f"{decoder}background must be True or False, got "
                          f"{lp['decoder_parameters']['background']!r}")
    if not isinstance(lp["decoder_parameters"]["empty_stamp"], bool):
        raise ConfigError(f"{decoder}empty_stamp must be True or False, got "
                          f"{lp['decoder_parameters']['empty_stamp']!r}; e.g. `with {decoder}empty_stamp=True`")
    _require_int(lp["decoder_parameters"]["colour_choices"], decoder + "colour_choices", minimum=0)
    if lp["learning_rate_decay_from"] is not None:
        _fraction(lp["learning_rate_decay_from"], "layer_parameters.learning_rate_decay_from")
    _fraction(lp["learning_rate_decay_to"], "layer_parameters.learning_rate_decay_to")


def _drop_legacy_loss(layer_parameters: dict) -> None:
    """2019 configs carry ``loss: "mse"``, a key nothing reads: the loss is always the per-image sum of squared
    errors (2019 ``my_loss``). Accept that value and drop the key; refuse any other."""
    loss = layer_parameters.pop("loss", "mse")
    if loss != "mse":
        raise ConfigError(f"layer_parameters.loss={loss!r}: the loss is always the per-image sum of squared errors "
                          "(2019 configs' 'mse' is accepted and ignored); remove layer_parameters.loss")


def check_seed(seed) -> int:
    """The run's seed: an integer from 0 to 2**32 - 1 (NumPy's and Sacred's range)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
        raise ConfigError(f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}; e.g. `with seed=1`")
    return seed


def validate(config: dict) -> dict:
    """Check a full config and fill in derived values; returns a new config. Raises ConfigError."""
    _check_known_keys(config)
    cfg = merge(DEFAULTS, config)
    lp = cfg["layer_parameters"]
    _drop_legacy_loss(lp)
    inp, enc, dec = lp["input_parameters"], lp["encoder_parameters"], lp["decoder_parameters"]
    rows = _require_int(inp["img_rows"], "layer_parameters.input_parameters.img_rows")
    cols = _require_int(inp["img_cols"], "layer_parameters.input_parameters.img_cols")
    _require_int(inp["img_channels"], "layer_parameters.input_parameters.img_channels")
    _require_int(inp["batch_size"], "layer_parameters.input_parameters.batch_size")
    if rows != cols:
        raise ConfigError(f"StampNet uses square canvases (one coord_tensor_size for y and x); got "
                          f"img_rows={rows}, img_cols={cols}: set both to the same value")
    S = _require_int(dec["stamp_size"], "layer_parameters.decoder_parameters.stamp_size")
    if S > rows:
        raise ConfigError(f"stamp_size {S} is larger than the {rows}x{cols} image; "
                          f"set layer_parameters.decoder_parameters.stamp_size <= {rows}")
    _require_int(dec["nr_of_stamps"], "layer_parameters.decoder_parameters.nr_of_stamps")
    _require_int(dec["stamps_per_canvas"], "layer_parameters.decoder_parameters.stamps_per_canvas")
    _require_int(dec["decoder_enc_size"], "layer_parameters.decoder_parameters.decoder_enc_size")
    C = rows - S + 1
    given = dec.get("coord_tensor_size")
    if given is not None and given != C:
        raise ConfigError(f"coord_tensor_size {given} contradicts img_rows - stamp_size + 1 = {C}; "
                          "remove coord_tensor_size (it is derived) or fix stamp_size/img_rows")
    dec["coord_tensor_size"] = C
    if dec.get("decoder", "separable") not in DECODERS:
        raise ConfigError(f"unknown decoder_parameters.decoder {dec['decoder']!r}; choose one of {DECODERS}")
    sizes = enc["conv_layer_sizes"]
    if not isinstance(sizes, (list, tuple)) or not all(isinstance(s, int) and s > 0 for s in sizes):
        raise ConfigError(f"encoder_parameters.conv_layer_sizes must be a list of positive integers, got {sizes!r}")
    for key in ("conv_kernel_size", "final_conv_kernel"):
        k = enc[key]
        k = [k, k] if isinstance(k, int) and not isinstance(k, bool) else k
        if not (isinstance(k, (list, tuple)) and len(k) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in k)):
            raise ConfigError(f"layer_parameters.encoder_parameters.{key} must be two positive integers, got {k!r}; "
                              f"e.g. `with layer_parameters.encoder_parameters.{key}=[3, 3]`")
        enc[key] = list(k)
    fk = enc["final_conv_kernel"]
    latent = encoder_latent_size(rows, len(sizes), fk[0])
    if latent != 1:
        pooled = encoder_latent_size(rows, len(sizes), 1)
        raise ConfigError(
            f"the encoder gives a {latent}x{latent} latent, not 1x1: after {len(sizes)} poolings a {rows}x{rows} "
            f"image is {pooled}x{pooled}, so set encoder_parameters.final_conv_kernel=[{pooled}, {pooled}]")
    gp = dec["gumbel_parameters"]
    gumbel = "layer_parameters.decoder_parameters.gumbel_parameters."
    _require_number(gp["tau_init"], gumbel + "tau_init", example=7)  # τ = 0 divides by 0; τ < 0 is an argmin
    _require_number(gp["min_temperature"], gumbel + "min_temperature", example=0.2)
    _require_number(gp["anneal_rate"], gumbel + "anneal_rate", strict=False, example=0.01)
    _validate_recipe(gp, lp)
    rp = cfg["run_parameters"]
    for key in ("epochs", "steps_per_epoch", "validation_steps", "checkpoint_period", "precise_bn"):
        _require_int(rp[key], f"run_parameters.{key}", minimum=0 if key in ("validation_steps", "precise_bn") else 1)
    if gp["steps_per_epoch"] is None:  # one steps_per_epoch: τ follows the run's unless the config sets its own
        gp["steps_per_epoch"] = rp["steps_per_epoch"]
    _require_int(gp["steps_per_epoch"], "layer_parameters.decoder_parameters.gumbel_parameters.steps_per_epoch")
    if rp["jit_compile"] not in (True, False, "auto"):
        raise ConfigError(f"run_parameters.jit_compile must be true, false or 'auto', got {rp['jit_compile']!r}")
    if rp["deterministic"] not in (None, True, False):
        raise ConfigError(f"run_parameters.deterministic must be true, false or null (auto: true on CPU), got "
                          f"{rp['deterministic']!r}")
    if rp["distribute"] not in DISTRIBUTE:
        raise ConfigError(f"run_parameters.distribute must be null or 'mirrored', got {rp['distribute']!r}")
    _require_number(rp["test_temperature"], "run_parameters.test_temperature", example=1e-4)
    _require_int(rp["n_figure_images"], "run_parameters.n_figure_images", minimum=0)
    if not isinstance(rp["shuffle"], bool):
        raise ConfigError(f"run_parameters.shuffle must be true or false, got {rp['shuffle']!r}; "
                          "e.g. `with run_parameters.shuffle=True`")
    if not isinstance(rp["img_type"], str):
        raise ConfigError(f"run_parameters.img_type must be a name such as 't_shape', got {rp['img_type']!r}")
    for key in ("mixed_precision", "mnist_path"):
        if rp[key] is not None and not isinstance(rp[key], str):
            raise ConfigError(f"run_parameters.{key} must be a string or null, got {rp[key]!r}")
    if not isinstance(rp["img_type_parameters"], dict):
        raise ConfigError(f"run_parameters.img_type_parameters must be a dict, got {rp['img_type_parameters']!r}; "
                          "e.g. `with run_parameters.img_type_parameters.test_size=256`")
    from stampnet.data import check_img_type_parameters  # each loader's own keys

    check_img_type_parameters(rp["img_type"], rp["img_type_parameters"])
    _require_number(lp["learning_rate"], "layer_parameters.learning_rate", example=0.002)
    _require_number(enc["encoder_dropout_rate"], "layer_parameters.encoder_parameters.encoder_dropout_rate",
                    strict=False, maximum=1, example=0.2)
    _require_int(enc["final_conv_size"], "layer_parameters.encoder_parameters.final_conv_size")
    check_seed(cfg["seed"])
    for key in ("mongo_url", "mongo_db"):
        if cfg[key] is not None and (not isinstance(cfg[key], str) or not cfg[key]):
            raise ConfigError(f"{key} must be a non-empty string or null, got {cfg[key]!r}; e.g. "
                              "`with mongo_url=mongodb://localhost:27017`")
    if rp["mixed_precision"] is not None and rp["mixed_precision"] not in MIXED_PRECISION:
        raise ConfigError(f"run_parameters.mixed_precision must be null or one of {', '.join(MIXED_PRECISION)}, "
                          f"got {rp['mixed_precision']!r}")
    for key in ("resume_from", "reproduce_from"):
        if cfg[key] is not None and not isinstance(cfg[key], str):
            raise ConfigError(f"{key} must be a run folder path, got {cfg[key]!r}")
    return cfg


def load_json(path: str | Path, fix: str):
    """The JSON value in the file ``path``, read strictly: one ConfigError ending in ``fix`` for a file that is
    missing, a folder, unreadable, not UTF-8, not JSON, nested too deep to read or holding a number too long."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"no file at {path}; {fix}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a JSON file; {fix}") from None
    except OSError as err:
        raise ConfigError(f"cannot read {path} ({err.strerror or type(err).__name__}); {fix}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
                          f"{fix}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON ({err}); {fix}") from None
    except RecursionError:
        raise ConfigError(f"{path} nests its JSON deeper than Python reads ({sys.getrecursionlimit()} levels); "
                          f"{fix}") from None
    except ValueError as err:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise ConfigError(f"{path} holds a number too long to read ({str(err).split(':')[0]}); {fix}") from None


def read_raw_config(path: str | Path) -> dict:
    """The config object in a config.json (ours or a 2019 Sacred one) as written, not validated (for a caller
    that edits it before it is read): :func:`load_json`, an object, without Sacred's ``__doc__``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no config file at {path}; give a run folder (runs/<exp>/<id>) or its config.json")
    raw = load_json(path, "restore the run's config.json (Sacred writes one per run) or give another run folder")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} holds a JSON {type(raw).__name__}, not a config object; restore the run's "
                          "config.json (Sacred writes one per run) or give another run folder")
    raw.pop("__doc__", None)
    return raw


def read_config(path: str | Path) -> dict:
    """Read a config.json (ours or a 2019 Sacred one, a run folder's or a mirror's) with :func:`read_raw_config`
    and validate it."""
    raw = read_raw_config(path)
    try:
        return validate(raw)
    except (OverflowError, RecursionError) as err:  # a value no check foresaw: too large, or nested too deep
        raise ConfigError(f"{path} holds a value the config cannot take ({type(err).__name__}: {err}); restore "
                          "the run's config.json or give another run folder") from None
