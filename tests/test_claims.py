"""The README's three claims: the measures (empty slots, brightest first) on hand-made cases, per-object
intensities in the generators, Omniglot without a held-out split, the claims' figures and evaluate's report."""
import json
import shutil

import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.data import Canvases
from stampnet.data.mnist import load_t_mnist
from stampnet.data.placement import check_intensities
from stampnet.data.shapes import load_shapes, shape_template
from stampnet.figures import prototypes_by_class, typical_canvases
from stampnet.metrics import (brightest_first, canvas_failures, cluster_to_label, compute_measures,
                              empty_slot_rate, localised_objects, match_slots, slot_ink, unmatched_ink,
                              unmatched_on_object)
from tests.test_data_mnist import mnist_npz  # noqa: F401  (fixture)

S, C = 4, 9  # stamp size, coordinate positions: 12x12 canvases


def one_hot(index, size):
    out = np.zeros((*np.shape(index), size))
    np.put_along_axis(out, np.asarray(index)[..., None], 1.0, axis=-1)
    return out


def slots(coords, classes, n_stamps):
    """(stamp_probs, y_probs, x_probs) of one-hot slots at coords (N, M, 2) drawing stamps classes (N, M)."""
    coords = np.asarray(coords)
    return one_hot(classes, n_stamps), one_hot(coords[..., 0], C), one_hot(coords[..., 1], C)


def canvases(coords, values=None):
    """(N, 12, 12, 1) canvases with a full SxS square of ``values`` (default 1) at every coords (N, n, 2)."""
    coords = np.asarray(coords)
    values = np.ones(coords.shape[:2]) if values is None else np.asarray(values)
    img = np.zeros((len(coords), 12, 12, 1))
    for i, objs in enumerate(coords):
        for (y, x), v in zip(objs, values[i]):
            img[i, y:y + S, x:x + S, 0] += v
    return np.minimum(img, 1)


# ---- empty slots ---------------------------------------------------------------------------------------

STAMPS = np.stack([np.ones((S, S)), np.zeros((S, S)), np.full((S, S), 0.5)])  # full, empty, half ink


def test_slot_ink_is_the_drawn_stamps_pixel_sum():
    probs = np.array([[[1, 0, 0], [0, 1, 0]], [[0, 0, 1], [0.5, 0.5, 0]]])
    np.testing.assert_allclose(slot_ink(STAMPS, probs), [[16, 0], [8, 8]])


def test_an_empty_slot_and_a_drawing_unmatched_slot():
    """One object, two slots: slot 0 sits on the object; slot 1 draws the empty stamp (canvas 0) or the full
    stamp somewhere else (canvas 1)."""
    true = np.array([[[2, 2]], [[2, 2]]])
    pred, classes = np.array([[[2, 2], [7, 7]], [[2, 2], [7, 7]]]), np.array([[0, 1], [0, 0]])
    slot_of = match_slots(true, pred)
    assert slot_of.tolist() == [[0], [0]]
    rel = unmatched_ink(slot_ink(STAMPS, one_hot(classes, 3)), slot_of, object_ink=16.0)
    assert np.isnan(rel[:, 0]).all() and rel[:, 1].tolist() == [0.0, 1.0]
    assert empty_slot_rate(rel) == 0.5
    assert empty_slot_rate(rel[:1]) == 1.0 and empty_slot_rate(rel[1:]) == 0.0
    assert np.isnan(empty_slot_rate(np.full((2, 2), np.nan)))  # every slot matched: nothing to say


def test_unmatched_on_object_tells_a_second_drawing_from_ink_elsewhere():
    """One object at (2, 2), two slots, slot 0 on it. Slot 1 draws the half stamp on the object too (canvas 0:
    the object split or redrawn), the full stamp far from it (canvas 1), or the empty stamp on it (canvas 2,
    empty: not counted)."""
    true = np.array([[[2, 2]]] * 3)
    pred = np.array([[[2, 2], [2, 3]], [[2, 2], [7, 7]], [[2, 2], [2, 2]]])
    classes = np.array([[0, 2], [0, 0], [0, 1]])
    rel = unmatched_ink(slot_ink(STAMPS, one_hot(classes, 3)), match_slots(true, pred), object_ink=16.0)
    assert rel[:, 1].tolist() == [0.5, 1.0, 0.0]
    assert unmatched_on_object(rel, true, pred, S) == 0.5          # of the two that draw, one is on the object
    assert unmatched_on_object(rel[:1], true[:1], pred[:1], S) == 1.0
    assert unmatched_on_object(rel[1:2], true[1:2], pred[1:2], S) == 0.0
    assert np.isnan(unmatched_on_object(rel[2:], true[2:], pred[2:], S))  # the only unmatched slot is empty
    images = canvases(true)
    m = compute_measures(images, images, *slots(pred, classes, 3), None, true, stamp_size=S, stamps=STAMPS)
    assert m["unmatched_on_object"] == 0.5 and m["empty_slot_rate"] == pytest.approx(1 / 3)


def test_compute_measures_reports_empty_slots_only_with_fewer_objects_than_slots():
    true = np.array([[[2, 2]], [[2, 2]]])
    pred, classes = np.array([[[2, 2], [7, 7]], [[2, 2], [7, 7]]]), np.array([[0, 1], [0, 2]])
    images = canvases(true)
    m = compute_measures(images, images, *slots(pred, classes, 3), np.zeros((2, 1)), true, stamp_size=S,
                         stamps=STAMPS)
    assert m["empty_slot_rate"] == 0.5 and m["unmatched_slot_ink"] == pytest.approx(0.25)  # (0 + 0.5) / 2
    assert "brightest_first" not in m
    hung = compute_measures(images, images, *slots(pred, classes, 3), None, true, stamp_size=S, stamps=STAMPS,
                            matching="hungarian")
    assert hung["empty_slot_rate_hungarian"] == 0.5 and "empty_slot_rate" not in hung
    two = np.array([[[2, 2], [7, 7]]])
    m = compute_measures(canvases(two), canvases(two), *slots(two, [[0, 1]], 3), None, two, stamp_size=S,
                         stamps=STAMPS)
    assert "empty_slot_rate" not in m  # as many objects as slots
    assert "empty_slot_rate" not in compute_measures(images, images, *slots(pred, classes, 3), None, true,
                                                     stamp_size=S)  # no stamps given


def test_an_empty_slot_detects_nothing():
    """One object at (2, 2); slot 0 draws the empty stamp, on the object (canvas 0) or far from it (canvas 1);
    slot 1 draws the full stamp on the object. The empty slot is matched to nothing (greedy would take slot 0,
    the lowest index, at equal distance) and its box is not a predicted box: CorLoc, IoU and the clusters are
    those of slot 1 alone. A canvas whose slots are all empty localises nothing."""
    true = np.array([[[2, 2]], [[2, 2]]])
    pred, classes = np.array([[[2, 2], [2, 2]], [[7, 7], [2, 2]]]), np.array([[1, 0], [1, 0]])
    images = canvases(true)
    for matching in ("greedy", "hungarian"):
        m = compute_measures(images, images, *slots(pred, classes, 3), np.array([[3], [3]]), true, stamp_size=S,
                             stamps=STAMPS, matching=matching)
        suffix = "" if matching == "greedy" else "_hungarian"
        assert m["cor_loc" + suffix] == 1.0 and m["iou"] == 1.0 and m["purity" + suffix] == 1.0
        assert m["empty_slot_rate" + suffix] == 1.0
        assert m["stamp_usage"] == [[0, 2, 0], [2, 0, 0]]
        assert m["n_stamps_used"] == 1        # the empty stamp is picked but draws nothing
    drawing = slot_ink(STAMPS, one_hot(classes, 3)) >= 0.05 * 16
    assert match_slots(true, pred, drawing=drawing).tolist() == [[1], [1]]
    assert match_slots(true, pred).tolist() == [[0], [1]]                  # without the stamps: as in 2019
    none_drawing = np.zeros((2, 2), bool)
    assert match_slots(true, pred, drawing=none_drawing).tolist() == [[-1], [-1]]
    assert match_slots(true, pred, "hungarian", none_drawing).tolist() == [[-1], [-1]]
    m = compute_measures(images, images, *slots(pred, [[1, 1], [1, 1]], 3), None, true, stamp_size=S,
                         stamps=STAMPS)
    assert m["cor_loc"] == 0.0 and m["iou"] == 0.0 and m["empty_slot_rate"] == 1.0


def test_a_slightly_inked_slot_is_still_empty():
    stamps = np.stack([np.ones((S, S)), np.zeros((S, S))])
    stamps[1, 0, 0] = 0.7  # 0.7 of the object's 16: 4.4 % < 5 %
    true, pred = np.array([[[2, 2]]]), np.array([[[2, 2], [7, 7]]])
    m = compute_measures(canvases(true), canvases(true), *slots(pred, [[0, 1]], 2), None, true, stamp_size=S,
                         stamps=stamps)
    assert m["empty_slot_rate"] == 1.0 and m["unmatched_slot_ink"] == pytest.approx(0.7 / 16)
    stamps[1, 0, 1] = 0.2  # 0.9 / 16 = 5.6 %: not empty
    m = compute_measures(canvases(true), canvases(true), *slots(pred, [[0, 1]], 2), None, true, stamp_size=S,
                         stamps=stamps)
    assert m["empty_slot_rate"] == 0.0


# ---- brightest first -----------------------------------------------------------------------------------

OBJECTS = np.array([[[0, 0], [0, 8], [8, 0]]])  # three disjoint objects


@pytest.mark.parametrize("slot_coords, intensities, expected", [
    ([[0, 0], [0, 8]], [1.0, 0.7, 0.4], True),    # the two brightest
    ([[0, 8], [0, 0]], [1.0, 0.7, 0.4], True),    # in any slot order
    ([[0, 0], [8, 0]], [1.0, 0.7, 0.4], False),   # the brightest and the dimmest
    ([[0, 0], [8, 0]], [1.0, 0.4, 0.7], True),    # ... which are the two brightest when swapped
    ([[0, 8], [8, 0]], [0.4, 1.0, 0.7], True),
    ([[0, 0], [0, 0]], [1.0, 0.7, 0.4], False),   # two slots on one object
    ([[0, 0], [4, 4]], [1.0, 0.7, 0.4], False),   # one object found, one slot off (IoU < 0.5)
    ([[0, 0], [8, 0]], [1.0, 0.7, 0.7], True),    # a tie at the boundary may go either way
])
def test_brightest_first_by_hand(slot_coords, intensities, expected):
    found = localised_objects(OBJECTS, np.array([slot_coords]), S, (12, 12))
    assert brightest_first(found, np.array([intensities]), 2).tolist() == [expected]


def test_brightest_first_in_compute_measures_with_more_objects_than_slots():
    coords = np.repeat(OBJECTS, 2, axis=0)
    intensities = np.array([[1.0, 0.7, 0.4], [0.4, 0.7, 1.0]])  # canvas 1: brightness order swapped
    pred = np.array([[[0, 0], [0, 8]]] * 2)
    images = canvases(coords, intensities)
    m = compute_measures(images, images, *slots(pred, [[0, 0]] * 2, 2), None, coords, stamp_size=S,
                         intensities=intensities)
    assert m["brightest_first"] == 0.5 and "empty_slot_rate" not in m
    scores, notes = canvas_failures(images, images, *slots(pred, [[0, 0]] * 2, 2), None, coords, stamp_size=S,
                                    intensities=intensities)
    assert scores[1] > scores[0] and notes[1].startswith("FAIL") and not notes[0].startswith("FAIL")
    assert "brightest_first" not in compute_measures(images, images, *slots(pred, [[0, 0]] * 2, 2), None, coords,
                                                     stamp_size=S)  # no intensities


def test_canvas_failures_rank_empty_slots_and_clustering():
    true = np.array([[[2, 2]], [[2, 2]]])
    pred, classes = np.array([[[2, 2], [7, 7]]] * 2), np.array([[0, 1], [0, 0]])
    scores, notes = canvas_failures(canvases(true), canvases(true), *slots(pred, classes, 3), None, true,
                                    stamp_size=S, stamps=STAMPS)
    assert scores[1] > scores[0] and notes == ["unmatched ink 0%", "FAIL unmatched ink 100%"]
    # both slots on the empty stamp: nothing drawn, the object missed
    scores, notes = canvas_failures(canvases(true), canvases(true), *slots(pred, [[0, 1], [1, 1]], 3), None, true,
                                    stamp_size=S, stamps=STAMPS)
    assert scores[1] > scores[0] and notes == ["unmatched ink 0%", "FAIL unmatched ink 0%, 1 not localised"]
    # one slot per object: canvases whose stamp maps to another label, or whose object was missed, rank first
    true = np.array([[[0, 0]], [[0, 0]], [[0, 0]], [[0, 0]]])
    pred = np.array([[[0, 0]], [[0, 0]], [[0, 0]], [[8, 8]]])
    labels, classes = np.array([[0], [0], [1], [1]]), np.array([[2], [2], [2], [1]])
    scores, notes = canvas_failures(canvases(true), canvases(true), *slots(pred, classes, 3), labels, true,
                                    stamp_size=S)
    assert cluster_to_label([0, 0, 1, 1], [2, 2, 2, 1]) == {2: 0, 1: 1}
    assert notes == ["ok", "ok", "1 in another class", "1 not localised"]
    assert scores[2] > scores[0] and scores[3] > scores[0]


# ---- per-object intensities in the generators -----------------------------------------------------------

INP = {"img_rows": 84, "img_cols": 84, "img_channels": 1, "batch_size": 4}
RUN = {"steps_per_epoch": 3, "validation_steps": 2}


def test_shapes_with_intensities():
    values = [1.0, 0.7, 0.4]
    s = load_shapes({"shapes_to_use": ["square", "plus"], "nr_img_per_canvas": 3, "overlap": False,
                     "intensities": values, "train_size": 40, "test_size": 30}, INP, RUN, 2)
    for part in (s.train, s.test):
        assert part.intensities.shape == part.labels.shape and part.intensities.dtype == np.float32
        assert (np.sort(part.intensities, axis=1) == np.float32([0.4, 0.7, 1.0])).all()  # each once per canvas
        for img, lab, co, inten in zip(part.images[..., 0], part.labels, part.coords, part.intensities):
            expect = np.zeros((84, 84), np.float32)
            for label, (y, x), v in zip(lab, co, inten):
                expect[y:y + 28, x:x + 28] += shape_template(["square", "plus"][label]) * v
            assert np.array_equal(img, expect)
    assert len({tuple(i) for i in s.train.intensities}) > 1  # the order changes from canvas to canvas
    assert s.train.take(slice(0, 5)).intensities.shape == (5, 3)
    default = load_shapes({"nr_img_per_canvas": 3, "train_size": 4, "test_size": 4}, INP, RUN, 2)
    assert default.train.intensities is None and default.test.take([0, 1]).intensities is None


def test_t_mnist_with_intensities(mnist_npz):  # noqa: F811
    path, (xtr, _, _, _) = mnist_npz
    s = load_t_mnist({"mnist_path": str(path), "nr_img_per_canvas": 2, "intensities": [1.0, 0.5],
                      "overlap": False, "test_size": 6}, INP, RUN, 4)
    assert s.test.intensities.shape == (6, 2)
    for img, co, inten in zip(s.train.images[..., 0], s.train.coords, s.train.intensities):
        for (y, x), v in zip(co, inten):
            crop = img[y:y + 28, x:x + 28]
            assert any(np.allclose(crop, d / 255.0 * v) for d in xtr)


@pytest.mark.parametrize("bad", [[1.0, 0.5], [1.0, 0.5, 0.0], [1.0, 1.5, 0.5], [1.0, "a", 0.5], 0.5,
                                 [True, 0.5, 0.5]])
def test_bad_intensities_are_one_config_error(bad):
    with pytest.raises(ConfigError, match=r"img_type_parameters.intensities must be a list of "
                                          r"nr_img_per_canvas=3 numbers in \(0, 1\]"):
        load_shapes({"nr_img_per_canvas": 3, "intensities": bad, "train_size": 2, "test_size": 2}, INP, RUN, 0)
    assert check_intensities(None, 3) is None


def test_intensities_only_where_a_generator_places_the_objects():
    from stampnet.data import load_data

    with pytest.raises(ConfigError, match="unknown config key run_parameters.img_type_parameters.intensities for "
                                          "img_type ct_mnist"):
        load_data({"img_type": "ct_mnist", "img_type_parameters": {"intensities": [1.0, 0.5]}}, INP, 0)


# ---- figures -------------------------------------------------------------------------------------------

def test_typical_canvases_shows_typical_then_worst(tmp_path):
    true = np.array([[[2, 2]]] * 6)
    pred = np.array([[[2, 2], [7, 7]]] * 6)
    images = canvases(true)
    scores = np.array([0.0, 0.9, 0.1, 0.0, 0.5, 0.0])
    fig = typical_canvases(images, images, pred, S, scores, [f"n{i}" for i in range(6)], np.zeros((6, 2), int),
                           true, n_typical=2, n_worst=2, path=tmp_path / "g" / "typical.png")
    assert (tmp_path / "g" / "typical.png").stat().st_size > 1000
    inputs = fig.axes[::2]  # typical canvases (left), then the worst (right), each input beside its reconstruction
    assert [ax.get_xlabel() for ax in inputs] == ["#0: n0", "#2: n2", "#1: n1", "#4: n4"]
    assert [ax.get_title() for ax in inputs] == ["typical: input", "", "worst: input", ""]
    typical_canvases(images[:0], images[:0], pred[:0], S, scores[:0], path=tmp_path / "empty.png")


def test_typical_canvases_leave_out_the_boxes_of_slots_that_draw_nothing():
    true = np.array([[[2, 2]]] * 2)
    pred = np.array([[[2, 2], [2, 2]]] * 2)          # both slots on the object; slot 1 (stamp 9) draws nothing
    images = canvases(true)
    drawing = np.array([[True, False], [True, True]])
    fig = typical_canvases(images, images, pred, S, np.zeros(2), None, np.array([[4, 9]] * 2), true,
                           n_typical=2, n_worst=0, drawing=drawing)
    labels = [[t.get_text() for t in ax.texts] for ax in fig.axes[::2]]
    assert labels == [["4"], ["4", "9"]]


def test_prototypes_by_class_leaves_missing_prototypes_blank(tmp_path):
    rng = np.random.default_rng(0)
    examples = rng.random((3, 8, 8))
    fig = prototypes_by_class(examples, {"StampNet": [rng.random((8, 8)), None, rng.random((8, 8))],
                                         "k-means": list(rng.random((3, 16, 16)))}, ["a", "b", "c"], blocks=2,
                              path=tmp_path / "p.png")
    assert (tmp_path / "p.png").is_file() and len(fig.axes) == 9


# ---- Omniglot without a held-out split ------------------------------------------------------------------

def test_omniglot_test_fraction_zero_uses_every_drawing_twice(tmp_path):
    from stampnet.data.omniglot import load_characters
    from tests.test_omniglot import make_zip

    params = {"data_path": str(make_zip(tmp_path / "o.zip")), "test_fraction": 0}
    xtr, ytr, xte, yte, _ = load_characters(params, seed=1)
    assert len(xtr) == len(xte) == 20 and np.array_equal(xtr, xte) and np.array_equal(ytr, yte)
    with pytest.raises(ConfigError, match=r"test_fraction must be in \[0, 1\)"):
        load_characters({**params, "test_fraction": 1}, seed=1)


# ---- evaluate: the measures and figures of a run ---------------------------------------------------------

def _variant(tiny_run, tmp_path, **params):
    """A copy of the tiny run (2 slots) whose test data has other img_type_parameters."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["run_parameters"]["img_type_parameters"].update(params)
    (run / "config.json").write_text(json.dumps(cfg))
    return run


@pytest.mark.parametrize("params, key, absent", [
    ({"nr_img_per_canvas": 1}, "empty_slot_rate", "brightest_first"),
    ({"nr_img_per_canvas": 3, "intensities": [1.0, 0.7, 0.4]}, "brightest_first", "empty_slot_rate"),
])
def test_evaluate_reports_the_claims_and_writes_their_figures(tiny_run, tmp_path, params, key, absent):
    from stampnet.evaluate import main

    run = _variant(tiny_run, tmp_path, **params)
    assert main([str(run), "--json"]) == 0
    m = json.loads((run / "measures.json").read_text())
    assert 0 <= m[key] <= 1 and absent not in m
    assert (run / "figures" / "typical_canvases.png").stat().st_size > 1000
    assert main([str(run), "--json", "--no-figures", "--figures", str(tmp_path / "elsewhere")]) == 0
    assert not (tmp_path / "elsewhere").exists()
