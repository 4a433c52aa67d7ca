"""Measures on small cases computed by hand (numbers in the comments)."""
import json
import math

import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.metrics import (avg_total_bce, avg_total_mse, box_iou, cluster_accuracy, compute_measures, cor_loc,
                              entropy_bits, format_table, match_slots, measure_name, nmi, predict_slots, purity,
                              stamp_usage, union_iou)


def one_hot(index, size):
    v = np.zeros(size)
    v[index] = 1.0
    return v


def slot_probs(coords, classes, C, K):
    """(stamp_probs, y_probs, x_probs) whose argmaxes are coords (N, M, 2) and classes (N, M)."""
    coords, classes = np.asarray(coords), np.asarray(classes)
    N, M = classes.shape
    s = np.zeros((N, M, K)); y = np.zeros((N, M, C)); x = np.zeros((N, M, C))
    for i in range(N):
        for m in range(M):
            s[i, m] = one_hot(classes[i, m], K)
            y[i, m] = one_hot(coords[i, m, 0], C)
            x[i, m] = one_hot(coords[i, m, 1], C)
    return s, y, x


# ------------------------------------------------------------------ slots and matching

def test_predict_slots_is_argmax_of_each_distribution():
    s = np.array([[[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]])          # (1, 2, 3)
    y = np.array([[[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]])
    x = np.array([[[0.9, 0.05, 0.05], [0.1, 0.1, 0.8]]])
    coords, classes = predict_slots(s, y, x)
    assert coords.tolist() == [[[2, 0], [0, 2]]]
    assert classes.tolist() == [[1, 0]]
    # the same as the argmax of the outer-product coordinate map
    for m in range(2):
        grid = np.outer(y[0, m], x[0, m])
        assert tuple(coords[0, m]) == np.unravel_index(np.argmax(grid), grid.shape)


def test_greedy_takes_objects_in_order_and_hungarian_minimises_total():
    true = np.array([[[0, 2], [0, 0]]])      # objects A=(0,2), B=(0,0)
    pred = np.array([[[0, 1], [0, 5]]])      # slots s0=(0,1), s1=(0,5)
    # greedy: A takes s0 (d=1 < 3), B gets s1 (d=5): total 6. hungarian: A->s1 (3), B->s0 (1): total 4.
    assert match_slots(true, pred, "greedy").tolist() == [[0, 1]]
    assert match_slots(true, pred, "hungarian").tolist() == [[1, 0]]


def test_greedy_ties_go_to_lowest_slot_and_slots_are_not_reused():
    true = np.array([[[2, 2], [2, 2]]])
    pred = np.array([[[2, 3], [3, 2], [2, 1]]])   # all at distance 1
    assert match_slots(true, pred, "greedy").tolist() == [[0, 1]]


def test_more_slots_than_objects_and_more_objects_than_slots():
    pred3 = np.array([[[5, 5], [0, 0], [9, 9]]])
    assert match_slots(np.array([[[1, 0]]]), pred3, "greedy").tolist() == [[1]]
    assert match_slots(np.array([[[1, 0]]]), pred3, "hungarian").tolist() == [[1]]
    pred1 = np.array([[[0, 0]]])
    two = np.array([[[5, 5], [0, 1]]])
    assert match_slots(two, pred1, "greedy").tolist() == [[0, -1]]      # 2019: first object takes it
    assert match_slots(two, pred1, "hungarian").tolist() == [[-1, 0]]   # nearest object takes it


def test_unknown_matching_is_a_config_error():
    with pytest.raises(ConfigError):
        match_slots(np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), "nearest")


# ------------------------------------------------------------------ clustering measures

def test_accuracy_and_purity_by_hand():
    t = [0, 0, 1, 1, 2, 2]
    p = [1, 1, 0, 0, 0, 2]
    # best mapping 1->0, 0->1, 2->2 gets 2+2+1 = 5 of 6; purity: cluster0 max 2, cluster1 2, cluster2 1.
    assert cluster_accuracy(t, p) == pytest.approx(5 / 6)
    assert purity(t, p) == pytest.approx(5 / 6)


def test_more_clusters_than_labels_purity_one_accuracy_half():
    t, p = [0, 0, 0, 0], [0, 0, 1, 1]
    assert purity(t, p) == 1.0
    assert cluster_accuracy(t, p) == 0.5


def test_nmi_uses_the_geometric_mean_of_2019():
    t, p = [0, 0, 1, 1], [0, 0, 1, 2]
    # H(T)=1, H(P)=1.5, MI=1 bit: geometric 1/sqrt(1.5), arithmetic 1/1.25
    assert nmi(t, p) == pytest.approx(1 / math.sqrt(1.5))
    assert nmi(t, p, "arithmetic") == pytest.approx(0.8)
    assert nmi([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------ entropies, reconstruction error

def test_entropy_bits():
    h = entropy_bits(np.array([[0.25] * 4, [1, 0, 0, 0], [0.5, 0.5, 0, 0]]))
    assert h == pytest.approx([2.0, 0.0, 1.0], abs=1e-12)
    assert h[1] == 0.0  # one-hot: exactly 0 (0 log 0 = 0), not the 2019 formula's -1.4e-5


@pytest.mark.parametrize("n", [1, 2, 3, 10, 57])
def test_entropy_bits_uniform_one_hot_and_never_negative(n):
    assert entropy_bits(np.full(n, 1 / n)) == pytest.approx(math.log2(n), abs=1e-12)
    assert entropy_bits(np.eye(n)).tolist() == [0.0] * n
    rng = np.random.default_rng(n)
    p = rng.dirichlet(np.full(n, 0.05), size=200)  # many near-one-hot rows
    p[:50] = np.eye(n)[rng.integers(0, n, 50)]
    h = entropy_bits(p)
    assert (h >= 0).all() and (h <= math.log2(n) + 1e-12).all()


def test_measures_of_a_perfect_hard_reconstruction_are_zero():
    """One-hot distributions and a perfect binary reconstruction: every entropy and the BCE are exactly 0."""
    rng = np.random.default_rng(0)
    images = (rng.random((3, 6, 6, 1)) > 0.5).astype(np.float32)
    one_hot = lambda size: np.eye(size)[rng.integers(0, size, (3, 2))]  # (N, M, size)
    out = compute_measures(images, images.copy(), one_hot(4), one_hot(5), one_hot(5), stamp_size=2)
    assert out["avg_total_bce"] == 0.0 and out["avg_total_mse"] == 0.0
    for key in ("entropy_stamp_mean", "entropy_stamp_max", "entropy_coord_mean", "entropy_coord_max",
                "entropy_coord_joint_mean", "entropy_coord_joint_max"):
        assert out[key] == 0.0, key
    assert "-0.0000" not in format_table(out)


def test_mse_and_bce_by_hand():
    images = np.array([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    recon = np.array([[[0.5, 0.5], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    assert avg_total_mse(images, recon) == pytest.approx(0.5 / 8)
    # image 0: two pixels at 1 bit each, two exact; image 1 exact: (2 + 0) / 2 = 1 bit
    assert avg_total_bce(images, recon) == pytest.approx(1.0, abs=1e-3)
    assert avg_total_bce(images[..., None], recon[..., None]) == pytest.approx(1.0, abs=1e-3)
    assert avg_total_bce(images, images) == 0.0                    # perfect binary reconstruction
    assert avg_total_bce(np.ones((1, 1, 1)), np.zeros((1, 1, 1))) == pytest.approx(-math.log2(1e-5))  # bounded
    grey = np.full((1, 1, 1), 0.5)
    assert avg_total_bce(grey, grey) == pytest.approx(1.0)         # a grey pixel's own entropy


def test_bce_over_chunks_equals_the_whole_set_at_once():
    from scipy.special import xlogy

    rng = np.random.default_rng(0)
    images = np.concatenate([rng.random((300, 6, 6)) > 0.7, rng.random((300, 6, 6))]).astype(np.float32)
    recon = rng.random(images.shape).astype(np.float32)
    recon[0, :2, :2] = [[0.0, 1.0], [1.0, 0.0]]  # ŷ at the bounds: the floored log
    y, y_hat = images.astype(np.float64), recon.astype(np.float64)
    bits = (xlogy(y, np.maximum(y_hat, 1e-5)) + xlogy(1 - y, np.maximum(1 - y_hat, 1e-5))) / np.log(2.0)
    assert avg_total_bce(images, recon) == pytest.approx(-bits.reshape(len(y), -1).sum(axis=1).mean(), rel=1e-12)


# ------------------------------------------------------------------ localisation

def test_box_iou_with_and_without_canvas():
    assert box_iou([0, 0], [1, 1], 2) == pytest.approx(1 / 7)         # inter 1, union 4+4-1
    assert box_iou([2, 2], [1, 1], 2, (3, 3)) == pytest.approx(1 / 4)  # first box clipped to 1 pixel
    assert box_iou([0, 0], [0, 2], 2) == 0.0
    assert box_iou([[0, 0], [3, 3]], [[0, 0], [2, 3]], 2).tolist() == pytest.approx([1.0, 1 / 3])


# Two 4x4 canvases, stamp_size 2, computed on paper:
# canvas 0: true (0,0),(2,2) = 8 px; pred (0,0),(2,1) = 8 px; intersection 4 + 2 = 6; union 10 -> 0.6
# canvas 1: true (0,0),(0,2) = rows 0-1 = 8 px; pred (1,0) twice = 4 px; intersection 2; union 10 -> 0.2
TRUE2 = np.array([[[0, 0], [2, 2]], [[0, 0], [0, 2]]])
PRED2 = np.array([[[0, 0], [2, 1]], [[1, 0], [1, 0]]])


def test_union_iou_two_canvases_by_hand():
    assert union_iou(TRUE2, PRED2, 2, (4, 4)).tolist() == pytest.approx([0.6, 0.2])
    assert union_iou(TRUE2, PRED2, 2, (4, 4), chunk=1).tolist() == pytest.approx([0.6, 0.2])


def test_cor_loc_two_canvases_by_hand():
    slot_of = match_slots(TRUE2, PRED2, "greedy")
    assert slot_of.tolist() == [[0, 1], [0, 1]]
    # IoUs: 1, 1/3 (canvas 0); 1/3, 0 (canvas 1) -> one of four objects >= 0.5
    assert cor_loc(TRUE2, PRED2, slot_of, 2, (4, 4)) == pytest.approx(0.25)
    # an unmatched object counts as a miss
    assert cor_loc(TRUE2[:1], PRED2[:1], np.array([[0, -1]]), 2, (4, 4)) == pytest.approx(0.5)


def test_union_iou_with_more_slots_than_objects():
    # true (0,0) = 4 px; slots (0,0),(2,2),(0,0) = 8 px; intersection 4 -> 0.5
    assert union_iou([[[0, 0]]], [[[0, 0], [2, 2], [0, 0]]], 2, (4, 4)).tolist() == [0.5]


def test_stamp_usage_per_slot():
    classes = np.array([[2, 0], [1, 1], [2, 3]])
    assert stamp_usage(classes, 4).tolist() == [[0, 1, 2, 0], [1, 1, 0, 1]]


# ------------------------------------------------------------------ compute_measures

def example():
    """The two canvases above with K=4 stamps, C=3, a uniform stamp distribution in canvas 0 slot 1 and a
    two-way tie in the x distribution of canvas 1 slot 0."""
    classes = np.array([[2, 0], [1, 1]])
    s, y, x = slot_probs(PRED2, classes, C=3, K=4)
    s[0, 1] = 0.25                 # argmax 0, entropy 2 bits
    x[1, 0] = [0.5, 0.5, 0.0]      # argmax 0, entropy 1 bit
    labels = np.array([[5, 7], [5, 7]])
    images = np.zeros((2, 4, 4, 1))
    images[0, 0, 0, 0] = 1.0
    recon = np.zeros((2, 4, 4, 1))
    return images, recon, s, y, x, labels


def test_compute_measures_greedy_by_hand():
    images, recon, s, y, x, labels = example()
    out = compute_measures(images, recon, s, y, x, labels, TRUE2, stamp_size=2)
    json.dumps(out)
    assert out["matching"] == "greedy" and out["n_images"] == 2 and out["n_objects"] == 4
    assert out["avg_total_mse"] == pytest.approx(1 / 32)
    assert out["avg_total_bce"] == pytest.approx(-math.log2(1e-5) / 2, rel=1e-3)   # one pixel wrong
    assert out["iou"] == pytest.approx(0.4)
    assert out["cor_loc"] == pytest.approx(0.25)
    # matched (true, predicted class): (5,2), (7,0), (5,1), (7,1)
    assert out["purity"] == pytest.approx(0.75)    # clusters 2, 0 pure; cluster 1 half
    assert out["acc"] == pytest.approx(0.5)
    # H(T)=1, H(P)=1.5, H(T,P)=2 -> MI 0.5, geometric NMI 0.5/sqrt(1.5)
    assert out["nmi"] == pytest.approx(0.5 / math.sqrt(1.5))
    assert out["entropy_stamp_mean"] == pytest.approx(0.5, abs=1e-3)   # (2+0+0+0)/4
    assert out["entropy_stamp_max"] == pytest.approx(2.0, abs=1e-3)
    assert out["entropy_coord_mean"] == pytest.approx(1 / 8, abs=1e-3)  # one 1-bit axis of 8
    assert out["entropy_coord_max"] == pytest.approx(1.0, abs=1e-3)
    assert out["entropy_coord_joint_mean"] == pytest.approx(1 / 4, abs=1e-3)
    assert out["stamp_usage"] == [[0, 1, 1, 0], [1, 1, 0, 0]]
    assert out["n_stamps_used"] == 3


def test_hungarian_measures_get_their_own_names():
    images, recon, s, y, x, labels = example()
    out = compute_measures(images, recon, s, y, x, labels, TRUE2, stamp_size=2, matching="hungarian")
    assert "cor_loc" not in out and "purity" not in out and "nmi" not in out and "acc" not in out
    assert out["cor_loc_hungarian"] == pytest.approx(0.25)
    assert out["iou"] == pytest.approx(0.4)
    assert measure_name("cor_loc", "hungarian") == "cor_loc_hungarian"
    assert measure_name("iou", "hungarian") == "iou"
    with pytest.raises(ConfigError):
        compute_measures(images, recon, s, y, x, stamp_size=2, matching="nearest")


def test_hungarian_recovers_localisation_greedy_misses():
    # 3x8 canvas, S=3. objects A=(0,1), B=(0,3); slots s0=(0,2), s1=(0,0).
    # greedy: A is at distance 1 from both, takes s0 (tie -> lowest); B gets s1 (distance 3): total 4.
    # hungarian: A->s1, B->s0: total 2.
    # IoU of a one-column shift = 6/12 = 0.5 (counts), of B vs s1 = 0.
    # greedy cor_loc: A ok, B miss -> 0.5; hungarian: both ok -> 1.0
    true = np.array([[[0, 1], [0, 3]]])
    pred = np.array([[[0, 2], [0, 0]]])
    assert match_slots(true, pred, "greedy").tolist() == [[0, 1]]
    assert match_slots(true, pred, "hungarian").tolist() == [[1, 0]]
    s, y, x = slot_probs(pred, np.array([[0, 1]]), C=6, K=2)
    img = np.zeros((1, 3, 8))
    g = compute_measures(img, img, s, y, x, None, true, stamp_size=3)
    h = compute_measures(img, img, s, y, x, None, true, stamp_size=3, matching="hungarian")
    assert g["cor_loc"] == pytest.approx(0.5)
    assert h["cor_loc_hungarian"] == pytest.approx(1.0)
    assert g["purity"] is None and h["nmi_hungarian"] is None


def test_unlabelled_data_gets_only_reconstruction_usage_and_entropies():
    images, recon, s, y, x, _ = example()
    out = compute_measures(images, recon, s, y, x, stamp_size=2)
    for name in ("iou", "cor_loc", "nmi", "acc", "purity", "n_objects"):
        assert out[name] is None
    assert out["avg_total_mse"] == pytest.approx(1 / 32)
    assert out["stamp_usage"] == [[0, 1, 1, 0], [1, 1, 0, 0]]
    json.dumps(out)


def test_one_slot_one_object_labels_without_coords():
    # three canvases, one slot each: classes 0, 0, 1 vs labels 4, 4, 4 -> purity 1, acc 2/3
    s, y, x = slot_probs(np.zeros((3, 1, 2), int), np.array([[0], [0], [1]]), C=3, K=2)
    img = np.zeros((3, 4, 4))
    out = compute_measures(img, img, s, y, x, labels=np.array([4, 4, 4]), stamp_size=2)
    assert out["purity"] == 1.0 and out["acc"] == pytest.approx(2 / 3) and out["iou"] is None
    out = compute_measures(img, img, s, y, x, labels=[[4], [4], [4]], coords=[[[0, 0]], [[0, 0]], [[2, 2]]],
                           stamp_size=2)
    # IoU 1, 1, 0 ; cor_loc 2/3
    assert out["iou"] == pytest.approx(2 / 3) and out["cor_loc"] == pytest.approx(2 / 3)


def test_pedestrian_variant_by_hand():
    # canvas 0: slots (0,0),(2,2); pedestrian (2,1) -> slot 1 (d 1 vs 3); IoU with (2,2) = 2/6
    # canvas 1: slots (1,1),(0,0); pedestrian (0,0) -> slot 1; IoU 1
    pred = np.array([[[0, 0], [2, 2]], [[1, 1], [0, 0]]])
    classes = np.array([[3, 1], [1, 3]])
    s, y, x = slot_probs(pred, classes, C=3, K=4)
    img = np.zeros((2, 4, 4, 1))
    ped = np.array([[[2, 1]], [[0, 0]]])
    out = compute_measures(img, img, s, y, x, None, ped, stamp_size=2, one_target=True)
    assert out["iou"] == pytest.approx((1 / 3 + 1) / 2)
    assert out["cor_loc"] == pytest.approx(0.5)
    # slot labels [0,1],[0,1] vs classes [3,1],[1,3]: cluster 3 {0,1}, cluster 1 {1,0} -> 2/4
    assert out["purity"] == pytest.approx(0.5)
    assert out["nmi"] is None and out["acc"] is None
    out2 = compute_measures(img, img, s, y, x, None, ped[:, 0], stamp_size=2, one_target=True)
    assert out2["iou"] == out["iou"]
    json.dumps(out)


def test_format_table_is_aligned_and_skips_lists():
    images, recon, s, y, x, labels = example()
    out = compute_measures(images, recon, s, y, x, None, None, stamp_size=2)
    table = format_table(out)
    lines = table.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert "stamp_usage" not in table
    assert any(line.startswith("iou") and line.endswith("n/a") for line in lines)
    assert any(line.startswith("avg_total_mse") and line.endswith("0.0312") for line in lines)
    assert lines[0].split() == ["measure", "value"]


def test_ink_centred_boxes_and_the_stamp_offset():
    """A stamp drawing its object 3 px below-right of its square's centre: the slot sits 3 px up-left of the
    object, the paper's slot square misses at a strict size, the ink-centred box hits, the offset is 3·√2."""
    from stampnet.metrics import ink_centroids, stamp_offset

    S, H = 6, 20
    stamps = np.zeros((1, S, S), np.float32)
    stamps[0, 4:6, 4:6] = 1.0                                  # ink centroid (4.5, 4.5): +2 from the centre 2.5
    assert ink_centroids(stamps)[0] == pytest.approx([2.0, 2.0])
    assert stamp_offset(np.zeros((3, 1), int), stamps) == pytest.approx(2 * np.sqrt(2))
    n = 4
    coords = np.full((n, 1, 2), 8, np.int64)                    # the object's box corner
    y = np.zeros((n, 1, H - S + 1), np.float32)
    y[..., 6] = 1.0                                             # the slot's corner 2 px up-left of it
    probs = np.ones((n, 1, 1), np.float32)
    img = np.zeros((n, H, H), np.float32)
    img[:, 12:14, 12:14] = 1.0                                  # what the slot draws: the stamp's ink at 6+4
    out = compute_measures(img, img, probs, y, y, np.zeros((n, 1), int), coords, stamp_size=S, stamps=stamps)
    assert out["cor_loc"] == 0.0 and out["cor_loc_ink"] == 1.0 and out["iou_ink"] == pytest.approx(1.0)
    assert out["iou"] < 0.5 and out["stamp_offset"] == pytest.approx(2 * np.sqrt(2))
    assert out["slots_drawing"] == 1.0
