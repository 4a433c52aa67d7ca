"""Simple Shapes: templates (exactly the 2019 pixels), placement on canvases, errors."""
import numpy as np
import pytest

from conftest import require_shared
from stampnet import ConfigError
from stampnet.data import load_data
from stampnet.data.placement import place_objects, random_positions
from stampnet.data.shapes import DEFAULT_SHAPES, SHAPE_NAMES, fill_polygon, load_shapes, shape_template

INP = {"img_rows": 84, "img_cols": 84, "img_channels": 1, "batch_size": 4}
RUN = {"steps_per_epoch": 3, "validation_steps": 2, "img_type": "t_shape"}


def small(**params):
    p = {"test_size": 40}
    p.update(params)
    return p


# ---- templates -----------------------------------------------------------------------------------------


def test_templates_match_2019_run():
    """Exactly the 2019 pixels. The triangle template was read off the trained stamps, which hold it one
    column left of where the 2019 generator drew it (the 2019 weights reach the paper's IoU only on the
    generator's pixels), so the triangle is compared one column shifted."""
    ref = np.load(require_shared("reference/stampnet-2019/simple_shapes_2_templates_28.npz"))
    assert sorted(ref.files) == sorted(DEFAULT_SHAPES)
    for name in ref.files:
        ours = shape_template(name, 28)
        if name == "triangle":
            assert not ours[:, 6].any() and not ref[name][:, 27].any()
            ours = np.roll(ours, -1, axis=1)
        diff = np.argwhere(ours != ref[name])
        assert len(diff) == 0, f"{name}: {len(diff)} pixels differ, first at {diff[:5].tolist()}"


@pytest.mark.parametrize("name", SHAPE_NAMES)
@pytest.mark.parametrize("size", [28, 21, 40])
def test_template_binary_float(name, size):
    t = shape_template(name, size)
    assert t.shape == (size, size) and t.dtype == np.float32
    assert set(np.unique(t)) <= {0.0, 1.0}


def test_template_properties_28():
    t = {n: shape_template(n, 28) for n in SHAPE_NAMES}
    for name in ("plus", "equal", "doublevertical", "square"):
        assert np.array_equal(t[name], t[name][::-1]), f"{name} not up-down symmetric"
        assert np.array_equal(t[name], t[name][:, ::-1]), f"{name} not left-right symmetric"
    assert np.array_equal(t["plus"], t["plus"].T)
    assert np.array_equal(t["equal"], t["doublevertical"].T)
    assert t["square"].all() and not t["empty"].any()
    # bars 8 pixels wide (2018 half-open rasterisation, not today's 9)
    assert t["plus"][0].sum() == 8 and t["doublevertical"][0].sum() == 16 and t["equal"][:, 0].sum() == 16
    # triangle points right, divide runs bottom-left to top-right
    assert t["triangle"][14, 26] == 1 and t["triangle"][2, 20] == 0
    assert t["divide"][26, 3] == 1 and t["divide"][1, 23] == 1 and t["divide"][1, 3] == 0
    flat = [t[n].tobytes() for n in SHAPE_NAMES]
    assert len(set(flat)) == len(SHAPE_NAMES), "two shapes have identical templates"


def test_fill_polygon_half_open():
    # a 2..5 × 1..4 box fills rows 2,3,4 and cols 1,2,3 (right/bottom edges out)
    m = fill_polygon([2, 5, 5, 2], [1, 1, 4, 4], (8, 8))
    assert m.sum() == 9 and m[2:5, 1:4].all()


def test_unknown_shape_lists_valid_names():
    with pytest.raises(ConfigError, match="valid names: .*plus.*triangle"):
        shape_template("hexagon")
    with pytest.raises(ConfigError, match="hexagon"):
        load_shapes({"shapes_to_use": ["plus", "hexagon"]}, INP, RUN, 0)
    with pytest.raises(ConfigError, match="non-empty list"):
        load_shapes({"shapes_to_use": []}, INP, RUN, 0)


@pytest.mark.parametrize("params, match", [
    ({"shape_size": 90}, "does not fit"),
    ({"nr_img_per_canvas": 0}, "nr_img_per_canvas"),
    ({"overlap": "yes"}, "overlap"),
    ({"train_size": 0}, "train_size"),
    ({"shape_size": 1.5}, "shape_size"),
    ({"overlap": False, "nr_img_per_canvas": 10}, "non-overlapping"),
])
def test_bad_parameters(params, match):
    with pytest.raises(ConfigError, match=match):
        load_shapes(small(**params), INP, RUN, 0)


# ---- canvases ------------------------------------------------------------------------------------------


def test_defaults_counts_and_labels():
    s = load_shapes(small(), INP, RUN, 1)
    n_train = (RUN["steps_per_epoch"] + RUN["validation_steps"]) * INP["batch_size"]
    assert s.train.images.shape == (n_train, 84, 84, 1) and s.train.images.dtype == np.float32
    assert s.test.images.shape == (40, 84, 84, 1)
    assert s.train.labels.shape == (n_train, 2) and s.train.coords.shape == (n_train, 2, 2)
    assert s.train.labels.min() >= 0 and s.train.labels.max() < len(DEFAULT_SHAPES)
    assert (s.train.coords >= 0).all() and (s.train.coords <= 84 - 28).all()
    other = load_shapes({"test_size": 123, "train_size": 1}, INP, RUN, 1)  # the default 10,000: the test below
    assert len(other.test) == 123 and len(other.train) == 1


def test_default_test_size_is_10000(monkeypatch):
    seen = {}
    import stampnet.data.shapes as shapes

    def fake(objects, labels, canvas, per_canvas, rng, overlap=True, n_canvases=None, intensities=None):
        seen.setdefault("n", []).append(n_canvases)
        return np.zeros((n_canvases, *canvas, 1), np.float32), labels[:n_canvases, None], None, None, None

    monkeypatch.setattr(shapes, "place_objects", fake)
    load_shapes({}, INP, RUN, 0)
    assert seen["n"] == [20, 10000]


def test_objects_sit_in_their_boxes():
    names = ["plus", "equal", "triangle", "divide", "doublevertical"]
    s = load_shapes(small(nr_img_per_canvas=1, train_size=30, shapes_to_use=names), INP, RUN, 3)
    for part in (s.train, s.test):
        for img, (label,), ((y, x),) in zip(part.images[..., 0], part.labels, part.coords):
            expect = np.zeros((84, 84), np.float32)
            expect[y:y + 28, x:x + 28] = shape_template(names[label])
            assert np.array_equal(img, expect)


def test_two_objects_union_and_clipping():
    s = load_shapes(small(train_size=50, shapes_to_use=["square", "plus"]), {**INP, "img_rows": 40,
                                                                              "img_cols": 40}, RUN, 5)
    for img, lab, co in zip(s.train.images[..., 0], s.train.labels, s.train.coords):
        expect = np.zeros((40, 40), np.float32)
        for label, (y, x) in zip(lab, co):
            expect[y:y + 28, x:x + 28] += shape_template(["square", "plus"][label])
        assert img.max() <= 1.0
        assert np.array_equal(img, np.minimum(expect, 1.0))
    # on a 40x40 canvas two 28x28 shapes always overlap: the clip must have acted
    assert (s.train.images <= 1).all()


def test_no_overlap_respected():
    s = load_shapes(small(overlap=False, nr_img_per_canvas=3, train_size=60), INP, RUN, 7)
    for co in s.train.coords:
        for a in range(3):
            for b in range(a + 1, 3):
                (ya, xa), (yb, xb) = co[a], co[b]
                assert ya + 28 <= yb or yb + 28 <= ya or xa + 28 <= xb or xb + 28 <= xa


def test_deterministic_per_seed():
    a = load_shapes(small(train_size=20), INP, RUN, 11)
    b = load_shapes(small(train_size=20), INP, RUN, 11)
    c = load_shapes(small(train_size=20), INP, RUN, 12)
    for x, y in ((a.train, b.train), (a.test, b.test)):
        assert np.array_equal(x.images, y.images) and np.array_equal(x.labels, y.labels)
        assert np.array_equal(x.coords, y.coords)
    assert not np.array_equal(a.train.images, c.train.images)
    # the test split does not depend on train_size
    d = load_shapes(small(train_size=7), INP, RUN, 11)
    assert np.array_equal(a.test.images, d.test.images)


def test_load_data_dispatch():
    run = {**RUN, "img_type_parameters": small(train_size=8)}
    s = load_data(run, INP, 0)
    assert s.train.images.shape == (8, 84, 84, 1)


def test_placement_primitives():
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="does not fit"):
        random_positions(rng, (10, 10), [(11, 2)])
    objs = np.ones((3, 4, 4), np.float32) * 0.75
    imgs, labels, coords, factors, masks = place_objects(objs, np.arange(3), (6, 6), 2, rng, n_canvases=5)
    assert factors is None
    assert imgs.shape == (5, 6, 6, 1) and labels.shape == (5, 2) and coords.shape == (5, 2, 2)
    assert imgs.max() <= 1.0 and np.isclose(imgs.sum(axis=(1, 2, 3)), 0).sum() == 0
    # the true segmentation: background exactly where nothing is drawn; each object's own pixels carry its
    # number, and where two overlap (equal ink) the first keeps them
    assert masks.shape == (5, 6, 6) and ((masks > 0) == (imgs[..., 0] > 0)).all()
    for m, (c1, c2) in zip(masks, coords):
        assert (m[c1[0]:c1[0] + 4, c1[1]:c1[1] + 4] == 1).all()
        box2 = np.zeros((6, 6), bool)
        box2[c2[0]:c2[0] + 4, c2[1]:c2[1] + 4] = True
        own = box2.copy()
        own[c1[0]:c1[0] + 4, c1[1]:c1[1] + 4] = False
        assert (m[own] == 2).all()
