"""compute_measures runs one group of measures per set of needs: each measure has a group, a group runs exactly
when the canvases carry what its measures declare they need, and it returns only its own measures."""
import numpy as np
import pytest

from stampnet.metrics import BY_KEY, GROUPS, MEASURES, Scored, compute_measures, measure_keys

EXTRA = {"n_objects", "stamp_usage"}   # what a group may report beside its measures


def canvases(n_obj=2, n_slots=3, seed=0, N=12, H=16, S=6, K=5):
    """Random canvases carrying everything: labels, boxes, stamps, intensities, masks."""
    rng = np.random.default_rng(seed)
    C = H - S + 1
    probs = lambda size: rng.dirichlet(np.ones(size) * 0.3, size=(N, n_slots))
    images = rng.random((N, H, H, 1)) * (rng.random((N, H, H, 1)) > 0.7)
    stamps = (rng.random((K, S, S, 1)) > 0.5).astype(np.float32)
    return dict(images=images, recon=rng.random(images.shape), stamp_probs=probs(K), y_probs=probs(C),
                x_probs=probs(C), labels=rng.integers(0, 4, (N, n_obj)), coords=rng.integers(0, C, (N, n_obj, 2)),
                stamps=stamps, intensities=rng.random((N, n_obj)),
                masks=rng.integers(0, n_obj + 1, (N, H, H)).astype(np.int16), stamp_size=S)


def test_every_measure_has_a_group_and_a_group_needs_what_its_measures_declare():
    computed = {k for g in GROUPS for k in g.keys}
    assert computed == {m.key for m in MEASURES}
    for g in GROUPS:
        declared = {n for k in g.keys for n in BY_KEY[k].needs}
        assert g.needs == declared or "target" in g.needs, g.compute.__name__


@pytest.mark.parametrize("n_obj, n_slots", [(2, 3), (3, 2), (3, 3)])
@pytest.mark.parametrize("matching", ["greedy", "hungarian"])
def test_a_group_returns_only_its_own_measures(n_obj, n_slots, matching):
    c = canvases(n_obj, n_slots)
    s = Scored(**{k: v for k, v in c.items() if k != "stamp_size"}, stamp_size=c["stamp_size"], matching=matching)
    for g in GROUPS:
        if "target" in g.needs:
            s.coords = c["coords"][:, :1]
        out = g.compute(s)
        suffix = ("_hungarian",) if matching == "hungarian" else ("",)
        assert set(out) - EXTRA <= set(measure_keys([BY_KEY[k] for k in g.keys], suffix)), g.compute.__name__
        s.coords = c["coords"]


def test_a_group_runs_only_where_the_canvases_carry_its_needs():
    c = canvases(n_obj=3, n_slots=2)
    full = compute_measures(**c)
    assert {"ari_fg", "iou_ink", "slots_drawing", "brightest_first", "purity"} <= set(full)
    assert full["purity"] is not None and full["n_objects"] == 36
    no_stamps = compute_measures(**{**c, "stamps": None})
    assert not {"ari_fg", "ari", "miou", "iou_ink", "stamp_offset", "slots_drawing"} & set(no_stamps)
    assert no_stamps["iou"] is not None and no_stamps["cor_loc"] is not None   # localisation needs only boxes
    assert "brightest_first" not in compute_measures(**{**c, "intensities": None})
    no_masks = compute_measures(**{**c, "masks": None})
    assert "ari_fg" not in no_masks
    assert {k: v for k, v in full.items() if k not in ("ari_fg", "ari", "miou")} == no_masks
    no_boxes = compute_measures(**{**c, "coords": None})
    assert no_boxes["iou"] is None and no_boxes["purity"] is None and "brightest_first" not in no_boxes
    # one target: its own localisation and purity, no clustering of labels, no claims of empty slots
    target = compute_measures(**{**c, "coords": c["coords"][:, :1]}, one_target=True)
    assert target["n_objects"] == 12 and target["nmi"] is None and target["purity"] is not None
    assert "iou_ink" in target and "slots_drawing" not in target and "brightest_first" not in target
