"""The validated config as plain named values: what the model and the trainer take.

Configs are read and written as the nested 2019 dict (experiment scripts, ``config.json``, the 2019 files).
The edge where a raw config enters (the Sacred config hook, ``stampnet.runs.preflight``, the readers of a run
folder's config.json) validates it once (``stampnet.config.validate``) and turns it into these frozen
dataclasses (:func:`run_spec`); below this boundary nothing reads a 2019 key again.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from stampnet.config import merge, validate

if TYPE_CHECKING:  # imported where a Schedule is made: it needs Keras, the checks at the edge do not
    from stampnet.schedules import Schedule


@dataclass(frozen=True)
class ModelSpec:
    """StampNet's architecture and optimizer (``build_model``)."""

    image_size: int                  # H = W
    channels: int
    conv_layer_sizes: tuple          # encoder blocks, each conv → LeakyReLU → BN → dropout → pool
    conv_kernel: tuple
    dropout: float
    final_conv_size: int
    final_conv_kernel: tuple         # 'valid', down to a 1×1 latent
    encoding_size: int               # the per-head encodings (2019 decoder_enc_size)
    n_stamps: int                    # K
    stamp_size: int                  # S
    slots: int                       # M (2019 stamps_per_canvas)
    decoder: str = "separable"       # or "conv", the 2019 formulation
    tau_init: float = 7.0
    straight_through: bool = False   # Gumbel layers that can switch to hard samples (recipe)
    usage_balance: float = 0.0       # strength of the stamp-usage balancing loss (recipe); 0: none
    overdraw_penalty: float = 0.0    # strength of the loss on ink the clip at 1 discards (recipe); 0: none
    overlap_penalty: float = 0.0     # strength of the loss on ink two slots share (recipe); 0: none
    slot_ink_penalty: float = 0.0    # strength of the concave loss on each slot's ink (recipe); 0: none
    centre_penalty: float = 0.0      # strength of the loss on the stamps' ink centroid offsets (recipe); 0: none
    binary_penalty: float = 0.0      # strength of the loss on the stamps' grey ink, Σ s(1 − s) (recipe); 0: none
    background: bool = False         # a per-canvas background colour behind the stamps (recipe)
    empty_stamp: bool = False        # a fixed all-zero stamp as the stamp head's last choice (recipe)
    colour_choices: int = 0          # P: grey stamps and a head choosing one of P learned colours per slot; 0: off
    learning_rate: float = 0.002     # Nadam

    @property
    def coord_size(self) -> int:
        """C = H − S + 1 coordinates per axis (2019 coord_tensor_size)."""
        return self.image_size - self.stamp_size + 1

    @classmethod
    def from_layer_parameters(cls, layer_parameters: dict) -> "ModelSpec":
        """From the 2019 ``layer_parameters`` (validated here)."""
        return from_config({"layer_parameters": layer_parameters})[0]


@dataclass(frozen=True)
class TrainSpec:
    """One run's training: schedule, data feeding, checkpoints, backend options."""

    seed: int
    epochs: int
    steps_per_epoch: int
    validation_steps: int
    batch_size: int
    shuffle: bool
    checkpoint_period: int
    schedule: Schedule               # what follows the step: τ, the switches, the learning rate
    precise_bn: int = 0              # training canvases for the BatchNorm statistics after training; 0: off
    test_temperature: float = 1e-4
    n_figure_images: int = 6
    jit_compile: object = False      # True, False or "auto" (Keras' choice per backend)
    mixed_precision: Optional[str] = None
    deterministic: Optional[bool] = None
    distribute: Optional[str] = None
    resume_from: Optional[str] = None

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def images_per_epoch(self) -> int:
        return self.steps_per_epoch * self.batch_size


@dataclass(frozen=True)
class DataSpec:
    """The data set of a run: its ``img_type`` and the ``img_type_parameters`` that its loader owns (each set
    declares and checks its own keys, ``stampnet.data.register``); ``run_parameters`` and ``input_parameters``
    are the validated 2019 sections that the loaders of ``stampnet.data`` take as they are."""

    img_type: str
    params: dict
    run_parameters: dict
    input_parameters: dict

    def load(self, seed: int):
        """The train and test canvases (``stampnet.data.Splits``); the keys were checked when validated."""
        from stampnet.data import load_checked

        return load_checked(self.run_parameters, self.input_parameters, seed)

    @property
    def carries(self):
        """What the canvases carry (``stampnet.data.Carries``)."""
        from stampnet.data import carries

        return carries(self.img_type)

    def note(self) -> Optional[str]:
        """Where the run's data came from, in the data set's own words (``stampnet.data.data_note``)."""
        from stampnet.data import data_note

        return data_note(self.run_parameters)

    def unset_defaults(self) -> dict:
        """The data set's keys that ``params`` leaves unset (or null), at their declared defaults."""
        from stampnet.data import with_defaults

        return {k: v for k, v in with_defaults(self.img_type, self.params).items() if self.params.get(k) is None}

    def defaults_update(self) -> dict:
        """The config update that writes :meth:`unset_defaults` into a config ({} when there are none)."""
        missing = self.unset_defaults()
        return {"run_parameters": {"img_type_parameters": missing}} if missing else {}


@dataclass(frozen=True)
class RunSpec:
    """A validated config as named values (model, training, data) beside the validated dict itself (``config``:
    what run records keep and the notebook shows; handed down, never validated again)."""

    model: ModelSpec
    train: TrainSpec
    data: DataSpec
    config: dict

    def with_decoder(self, decoder: str) -> "RunSpec":
        """This run with the other decoder implementation (the same weights): ``separable`` or ``conv``."""
        config = merge(self.config, {"layer_parameters": {"decoder_parameters": {"decoder": decoder}}})
        return dataclasses.replace(self, model=dataclasses.replace(self.model, decoder=decoder), config=config)

    def with_update(self, update: dict) -> "RunSpec":
        """This run with ``update`` merged into its config; ``update`` holds values that are valid already (the
        data set's declared defaults, :meth:`DataSpec.defaults_update`), so it is not validated again."""
        return run_spec(merge(self.config, update)) if update else self


def tau_schedule(gumbel_parameters: dict):
    """The ``stampnet.schedules.TauSchedule`` of a validated ``gumbel_parameters`` (its ``tau_schedule`` the
    knots)."""
    from stampnet.schedules import TauSchedule

    gp, knots = gumbel_parameters, gumbel_parameters.get("tau_schedule")
    return TauSchedule(gp["tau_init"], gp["anneal_rate"], gp["min_temperature"], gp["steps_per_epoch"],
                       None if knots is None else tuple(map(tuple, knots)))


def data_spec(cfg: dict) -> DataSpec:
    """The :class:`DataSpec` of a config that ``stampnet.config.validate`` returned (needs no Keras)."""
    rp = cfg["run_parameters"]
    return DataSpec(img_type=rp["img_type"], params=rp["img_type_parameters"], run_parameters=rp,
                    input_parameters=cfg["layer_parameters"]["input_parameters"])


def run_spec(cfg: dict) -> RunSpec:
    """The :class:`RunSpec` of a config that ``stampnet.config.validate`` returned (not validated again)."""
    return RunSpec(*from_validated(cfg), data_spec(cfg), cfg)


def from_config(config: dict) -> tuple[ModelSpec, TrainSpec]:
    """Validate a (partial) 2019-style config and return its model and training specs."""
    return from_validated(validate(config))


def from_validated(cfg: dict) -> tuple[ModelSpec, TrainSpec]:
    """The specs of a config that ``stampnet.config.validate`` returned."""
    from stampnet.schedules import Schedule

    rp, lp = cfg["run_parameters"], cfg["layer_parameters"]
    inp, enc, dec = lp["input_parameters"], lp["encoder_parameters"], lp["decoder_parameters"]
    gp = dec["gumbel_parameters"]
    model = ModelSpec(
        image_size=inp["img_rows"], channels=inp["img_channels"],
        conv_layer_sizes=tuple(enc["conv_layer_sizes"]), conv_kernel=tuple(enc["conv_kernel_size"]),
        dropout=enc["encoder_dropout_rate"], final_conv_size=enc["final_conv_size"],
        final_conv_kernel=tuple(enc["final_conv_kernel"]), encoding_size=dec["decoder_enc_size"],
        n_stamps=dec["nr_of_stamps"], stamp_size=dec["stamp_size"], slots=dec["stamps_per_canvas"],
        decoder=dec["decoder"], tau_init=gp["tau_init"],
        straight_through=gp["straight_through_from"] is not None, usage_balance=gp["usage_balance"],
        overdraw_penalty=dec["overdraw_penalty"], overlap_penalty=dec["overlap_penalty"],
        slot_ink_penalty=dec["slot_ink_penalty"], centre_penalty=dec["centre_penalty"],
        binary_penalty=dec["binary_penalty"],
        empty_stamp=dec["empty_stamp"], background=dec["background"], colour_choices=dec["colour_choices"],
        learning_rate=lp["learning_rate"])
    schedule = Schedule(tau_schedule(gp), rp["epochs"] * rp["steps_per_epoch"],
                        lp["learning_rate"], lp["learning_rate_decay_from"], lp["learning_rate_decay_to"],
                        gp["straight_through_from"], dec["slot_ink_penalty_from"],
                        dec["centre_penalty_from"])
    train = TrainSpec(
        seed=cfg["seed"], epochs=rp["epochs"], steps_per_epoch=rp["steps_per_epoch"],
        validation_steps=rp["validation_steps"], batch_size=inp["batch_size"], shuffle=bool(rp["shuffle"]),
        checkpoint_period=rp["checkpoint_period"], schedule=schedule, precise_bn=rp["precise_bn"],
        test_temperature=rp["test_temperature"],
        n_figure_images=rp["n_figure_images"], jit_compile=rp["jit_compile"],
        mixed_precision=rp["mixed_precision"], deterministic=rp["deterministic"], distribute=rp["distribute"],
        resume_from=cfg["resume_from"])
    return model, train
