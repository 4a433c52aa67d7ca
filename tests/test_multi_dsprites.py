"""Multi-dSprites: the look-alike generator of each variant (shapes, masks, occlusion), the official-schema file
read back through the loader, and one clear error for a file of another variant or set and for a bad variant."""
import json

import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.data import carries, load_data
from stampnet.data import multi_dsprites as md
from stampnet.data import tetrominoes
from stampnet.data.multi_object import write_official
from stampnet.masks import segmentation_from_entity_masks

VARIANTS = list(md.VARIANTS)


def _config(variant, **params):
    """(run_parameters, input_parameters) of a small multi_dsprites split of ``variant``."""
    channels = md.VARIANTS[variant][0]
    run = {"img_type": "multi_dsprites", "steps_per_epoch": 2, "validation_steps": 1,
           "img_type_parameters": {"variant": variant, "train_size": 8, "test_size": 4, **params}}
    return run, {"img_rows": 64, "img_cols": 64, "img_channels": channels, "batch_size": 4}


@pytest.mark.parametrize("variant", VARIANTS)
def test_generator_gives_the_variants_canvases(variant):
    channels, entities, (fewest, most) = md.VARIANTS[variant]
    scenes = md.generate(60, np.random.default_rng(1), variant)
    assert scenes["image"].shape == (60, 64, 64, channels) and scenes["image"].dtype == np.uint8
    assert scenes["mask"].shape == (60, entities, 64, 64) and set(np.unique(scenes["mask"])) <= {0, 255}
    assert scenes["color"].shape == (60, entities, channels)
    n_sprites = (scenes["shape"][:, 1:] > 0).sum(axis=1)
    assert n_sprites.min() == fewest and n_sprites.max() == most          # uniform over the range: both ends
    assert set(np.unique(scenes["shape"][:, 1:])) == {0, 1, 2, 3}
    for factor, grid in (("scale", md.SCALES), ("orientation", md.ORIENTATIONS), ("x", md.POSITIONS)):
        values = scenes[factor][scenes["shape"] > 0]                       # dSprites' values only
        assert np.isclose(values[:, None], grid[None], atol=1e-6).any(axis=1).all(), factor
    # every pixel belongs to exactly one entity
    assert ((scenes["mask"] > 0).sum(axis=1) == 1).all()
    if variant == "binarized":                                            # white sprites on black
        assert set(np.unique(scenes["image"])) == {0, 255}
    else:
        assert len(np.unique(scenes["image"].reshape(-1, 3), axis=0)) > 100
    assert np.array_equal(md.generate(5, np.random.default_rng(1), variant)["image"], scenes["image"][:5])


@pytest.mark.parametrize("variant", VARIANTS)
def test_masks_are_the_visible_pixels_of_each_sprite_later_ones_on_top(variant):
    scenes = md.generate(40, np.random.default_rng(2), variant)
    hidden = 0
    for i in range(40):
        k = int((scenes["shape"][i, 1:] > 0).sum())
        full = [md.sprite_mask(*(scenes[f][i, e] for f in ("shape", "scale", "orientation", "x", "y")))
                for e in range(1, k + 1)]
        above = np.zeros((64, 64), bool)
        for e in range(k, 0, -1):                                         # from the top sprite down
            visible = full[e - 1] & ~above
            assert np.array_equal(scenes["mask"][i, e] > 0, visible), (i, e)
            assert scenes["visibility"][i, e] == visible.any()
            hidden += (full[e - 1] & above).sum()
            above |= full[e - 1]
        assert np.array_equal(scenes["mask"][i, 0] > 0, ~above)          # the background: where no sprite is
        assert not scenes["mask"][i, k + 1:].any()                        # absent entities: empty
        # each pixel has the colour of the entity seen there
        entity = segmentation_from_entity_masks(scenes["mask"][i:i + 1])[0]
        expected = np.round(scenes["color"][i][entity] * 255).astype(np.uint8)
        assert np.array_equal(scenes["image"][i], expected), i
        if variant == "binarized":
            assert np.array_equal(scenes["image"][i, ..., 0] > 0, above)  # foreground exactly where sprites are
    assert hidden > 0                                                     # occlusion happened and was checked


def test_a_sprite_under_another_loses_those_pixels():
    lower, upper = md.sprite_mask(1, 1.0, 0.0, 0.5, 0.5), md.sprite_mask(2, 1.0, 0.0, 0.5, 0.5)
    assert (lower & upper).any() and (lower & ~upper).any()
    assert lower.sum() == pytest.approx(md.SPRITE_PX ** 2, rel=0.15)      # ~20 px across at scale 1
    assert 0.4 < md.sprite_mask(3, 1.0, 0.0, 0.5, 0.5).sum() / lower.sum() < 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_official_file_reads_back_identically(variant, tmp_path):
    scenes = md.generate(12, np.random.default_rng(3), variant)
    path = write_official(tmp_path / f"multi_dsprites_{variant}.tfrecords", scenes, md.SCHEMAS[variant])
    run, inp = _config(variant, data_path=str(path))
    splits = load_data(run, inp, seed=0)
    images = scenes["image"].astype(np.float32) / 255
    truth = segmentation_from_entity_masks(scenes["mask"])
    np.testing.assert_array_equal(splits.test.images, images[:4])         # the first test_size records: test
    np.testing.assert_array_equal(splits.train.images, images[4:12])
    np.testing.assert_array_equal(splits.test.masks, truth[:4])
    assert splits.test.labels is None and splits.test.coords is None
    assert truth[:4].max() >= 2                                           # several objects per canvas


def test_lookalike_split_without_a_file():
    run, inp = _config("colored_on_colored")
    splits = load_data(run, inp, seed=5)
    assert splits.train.images.shape == (8, 64, 64, 3) and splits.test.masks.shape == (4, 64, 64)
    assert splits.test.masks.max() >= 1 and splits.train.masks is None and splits.test.labels is None
    assert np.array_equal(load_data(run, inp, seed=5).test.images, splits.test.images)
    has = carries("multi_dsprites")
    assert has.masks and not has.labels and not has.boxes


@pytest.mark.parametrize("written, read", [("binarized", "colored_on_grayscale"),
                                           ("colored_on_grayscale", "binarized"),
                                           ("colored_on_grayscale", "colored_on_colored"),
                                           ("colored_on_colored", "colored_on_grayscale")])
def test_a_file_of_another_variant_is_one_clear_error(written, read, tmp_path):
    path = write_official(tmp_path / "m.tfrecords", md.generate(6, np.random.default_rng(4), written),
                          md.SCHEMAS[written])
    run, inp = _config(read, data_path=str(path), test_size=2, train_size=4)
    with pytest.raises(ConfigError, match="variant") as err:
        load_data(run, inp, seed=0)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_tetrominoes_file_is_one_clear_error(tmp_path):
    scenes = tetrominoes.generate(6, np.random.default_rng(0))
    path = write_official(tmp_path / "tetrominoes_train.tfrecords", scenes, tetrominoes.SCHEMA)
    for variant in VARIANTS:
        run, inp = _config(variant, data_path=str(path), test_size=2, train_size=4)
        with pytest.raises(ConfigError, match="not multi_dsprites .*check img_type") as err:
            load_data(run, inp, seed=0)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("variant, message", [
    ("colored", r"^run_parameters.img_type_parameters.variant must be one of binarized, colored_on_grayscale, "
                r"colored_on_colored, got 'colored'$"),
    ("binarised", r"got 'binarised'; did you mean 'binarized'\?$"),
    (3, r"variant must be one of binarized, .*, got 3$"),
])
def test_a_bad_variant_is_one_clear_error_naming_the_choices(variant, message):
    from stampnet.config import validate

    run, inp = _config("binarized")
    run["img_type_parameters"]["variant"] = variant
    with pytest.raises(ConfigError, match=message):                       # at the edge: the config's check
        validate({"run_parameters": {"img_type": "multi_dsprites", "img_type_parameters": {"variant": variant}}})
    with pytest.raises(ConfigError, match=message):
        load_data(run, inp, seed=0)


def test_the_model_input_must_have_the_variants_channels():
    run, inp = _config("colored_on_grayscale")
    inp["img_channels"] = 1
    with pytest.raises(ConfigError, match="64x64 with 3 channel.*img_channels=3"):
        load_data(run, inp, seed=0)


def _script_config(**updates):
    """multi_dsprites.py's config (stampnet/experiments/multi_dsprites.py) with ``updates``, validated."""
    from sacred.utils import recursive_update

    from stampnet import experiments
    from stampnet.config import validate

    return validate(recursive_update(experiments.config("multi_dsprites"), updates))


@pytest.mark.parametrize("variant, slots", [("binarized", None), ("colored_on_grayscale", 5),
                                            ("colored_on_colored", 4)])
def test_the_script_builds_a_model_for_each_variant(variant, slots):
    """The documented command lines: the default, and a coloured variant with 3 channels and more slots."""
    from stampnet.model import build_model

    updates = {"run_parameters": {"img_type_parameters": {"variant": variant}}}
    if slots:
        updates["layer_parameters"] = {"input_parameters": {"img_channels": 3},
                                       "decoder_parameters": {"stamps_per_canvas": slots}}
    cfg = _script_config(**updates)
    model = build_model(cfg["layer_parameters"], compile=False)
    assert model.input_shape == (None, 64, 64, md.VARIANTS[variant][0]) == model.output_shape


@pytest.mark.parametrize("named", ["quick", "cpu", "fast"])
def test_every_named_config_fits_the_script(named):
    from stampnet.experiments import NAMED_CONFIGS

    cfg = _script_config(**NAMED_CONFIGS[named].config)
    assert cfg["run_parameters"]["img_type"] == "multi_dsprites"


@pytest.mark.slow
def test_script_trains_and_evaluate_reports_ari_fg(tmp_path, capsys, monkeypatch):
    from stampnet.evaluate import main as evaluate
    from tests.conftest import run_script_here

    short = ["run_parameters.epochs=1", "run_parameters.steps_per_epoch=2", "run_parameters.validation_steps=1",
             "run_parameters.checkpoint_period=1", "run_parameters.n_figure_images=2",
             "run_parameters.img_type_parameters.test_size=16", "layer_parameters.input_parameters.batch_size=8"]
    # the script with its command line, in this process (TensorFlow is loaded here already)
    code = run_script_here("multi_dsprites.py", ["with", "quick", *short], tmp_path, monkeypatch)
    assert code == 0, capsys.readouterr().err[-3000:]
    run = tmp_path / "runs" / "multi_dsprites" / "1"
    capsys.readouterr()
    assert evaluate([str(run), "--json"]) == 0
    m = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert m["n_images"] == 16 and 0 <= m["ari_fg"] <= 1 and 0 <= m["miou"] <= 1
    assert m["nmi"] is None and m["cor_loc"] is None                       # no labels, no boxes


@pytest.mark.slow
def test_script_with_a_bad_variant_says_so_in_one_line(tmp_path):
    from tests.conftest import run_experiment, tf_quiet_lines

    proc = run_experiment(["with", "run_parameters.img_type_parameters.variant=colored"], tmp_path,
                          script="multi_dsprites.py")
    lines = tf_quiet_lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    assert "colored_on_grayscale" in lines[0] and not (tmp_path / "runs" / "multi_dsprites" / "1").exists()
