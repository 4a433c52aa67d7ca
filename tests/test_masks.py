"""Masks from stamps and the segmentation measures (ARI-FG, ARI, matched mIoU)."""
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from stampnet.masks import (adjusted_rand_index, matched_iou, predicted_segmentation, segmentation_from_entity_masks,
                            segmentation_measures, slot_drawings)


def test_ari_fg_hand_computed():
    # Foreground pixels: true groups [1, 1, 2, 2], predicted [1, 1, 1, 2]; the two background pixels are ignored.
    true = np.array([[[0, 0, 1, 1, 2, 2]]])
    pred = np.array([[[2, 1, 1, 1, 1, 2]]])
    # n_ij: pred1∩true1 = 2, pred1∩true2 = 1, pred2∩true2 = 1 → Σ C(n_ij,2) = 1; a = (3, 1) → 3; b = (2, 2) → 2
    # E = 3·2 / C(4,2) = 1; max = (3 + 2)/2 = 2.5; ARI = (1 − 1) / (2.5 − 1) = 0
    assert adjusted_rand_index(true, pred)[0] == pytest.approx(0.0)
    true2 = np.array([[[0, 1, 1, 2, 2, 2]]])
    pred2 = np.array([[[0, 3, 3, 1, 1, 1]]])  # the same partition of the foreground, other names: 1
    assert adjusted_rand_index(true2, pred2)[0] == pytest.approx(1.0)


def test_ari_matches_scikit_learn():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 4, size=(20, 8, 8))
    pred = np.where(rng.random((20, 8, 8)) < 0.7, true, rng.integers(0, 4, size=(20, 8, 8)))
    fg = adjusted_rand_index(true, pred, foreground_only=True)
    full = adjusted_rand_index(true, pred, foreground_only=False)
    for i in range(20):
        keep = true[i].ravel() > 0
        assert fg[i] == pytest.approx(adjusted_rand_score(true[i].ravel()[keep], pred[i].ravel()[keep]))
        assert full[i] == pytest.approx(adjusted_rand_score(true[i].ravel(), pred[i].ravel()))


def test_ari_single_groups_and_empty_images():
    true = np.array([[[1, 1, 0]], [[0, 0, 0]]])
    pred = np.array([[[2, 2, 2]], [[1, 1, 1]]])
    ari = adjusted_rand_index(true, pred)
    assert ari[0] == 1.0 and np.isnan(ari[1])


def test_slot_drawings_place_the_chosen_stamp():
    stamps = np.zeros((2, 3, 3), np.float32)
    stamps[0, 0, 0] = 1.0
    stamps[1] = 0.5
    drawn = slot_drawings(stamps, np.array([[0, 1]]), np.array([[[2, 1], [0, 3]]]), (6, 6))
    assert drawn.shape == (1, 2, 6, 6)
    assert drawn[0, 0].sum() == 1.0 and drawn[0, 0, 2, 1] == 1.0
    assert drawn[0, 1, 0:3, 3:6].sum() == pytest.approx(4.5) and drawn[0, 1].sum() == pytest.approx(4.5)
    seg = predicted_segmentation(stamps, np.array([[0, 1]]), np.array([[[2, 1], [0, 3]]]), (6, 6))
    assert seg[0, 2, 1] == 1 and seg[0, 0, 3] == 2 and seg[0, 5, 5] == 0


def test_colour_stamps_sum_their_channels():
    stamps = np.zeros((1, 2, 2, 3), np.float32)
    stamps[0, 0, 0] = [0.05, 0.05, 0.05]  # 0.15 of ink in all: above INK although each channel is below
    seg = predicted_segmentation(stamps, np.array([[0]]), np.array([[[0, 0]]]), (2, 2))
    assert seg[0, 0, 0] == 1 and seg[0, 1, 1] == 0


def test_matched_iou_and_measures():
    true = np.zeros((1, 4, 4), int)
    true[0, :2, :2] = 1
    true[0, 2:, 2:] = 2
    pred = np.zeros((1, 4, 4), int)
    pred[0, :2, :2] = 2            # object 1 exactly
    pred[0, 2:, 2:3] = 1           # half of object 2
    assert matched_iou(true, pred)[0] == pytest.approx((1.0 + 0.5) / 2)
    stamps = np.ones((1, 2, 2), np.float32)
    m = segmentation_measures(true, stamps, np.array([[0, 0]]), np.array([[[0, 0], [2, 2]]]))
    assert m == {"ari_fg": 1.0, "ari": 1.0, "miou": 1.0}


def test_entity_masks_to_segmentation():
    masks = np.zeros((1, 3, 2, 2), np.uint8)
    masks[0, 0] = 255
    masks[0, 0, 0, 0], masks[0, 2, 0, 0] = 0, 255
    seg = segmentation_from_entity_masks(masks)
    assert seg.tolist() == [[[2, 0], [0, 0]]]


def test_contingency_counts_every_pair_whatever_the_chunk():
    from stampnet.masks import contingency

    rng = np.random.default_rng(1)
    true, pred = rng.integers(0, 4, size=(7, 5, 5)), rng.integers(0, 3, size=(7, 5, 5))
    by_hand = np.zeros((7, 3, 4))
    for i, (t, p) in enumerate(zip(true, pred)):
        np.add.at(by_hand[i], (p.ravel(), t.ravel()), 1)
    for chunk in (1, 3, 256):
        assert np.array_equal(contingency(true, pred, chunk=chunk), by_hand)
        fg = by_hand.copy()
        fg[:, :, 0] = 0
        assert np.array_equal(contingency(true, pred, foreground_only=True, chunk=chunk), fg)
