"""Segmentation masks from the stamps, and the measures of the multi-object benchmarks.

Pure NumPy / SciPy (no Keras), like :mod:`stampnet.metrics`.

A segmentation is an integer image (N, H, W): 0 the background, i ≥ 1 object (or slot) i. True masks come
from the data set (:class:`stampnet.data.Canvases` ``masks``); predicted ones from the decoder: each slot draws
its chosen stamp at its chosen corner (:func:`slot_drawings`), and every pixel belongs to the slot that draws the
most ink there, or to the background where no slot draws more than ``INK`` (:func:`predicted_segmentation`).

Measures (means over images):

- ``ari_fg``: the adjusted Rand index over the pixels of true objects only (the background's pixels are left
  out), as DeepMind's ``multi_object_datasets/segmentation_metrics.py`` defines it and Slot Attention, IODINE,
  MONet and DTI-Sprites report it: per image, from the contingency table n_ij of predicted and true groups,
  ARI = (Σ C(n_ij, 2) − E) / (½(Σ C(a_i, 2) + Σ C(b_j, 2)) − E), E = Σ C(a_i, 2) · Σ C(b_j, 2) / C(n, 2);
  1 when both sides are a single group. Images without a true object pixel are left out.
- ``ari``: the same over all pixels, the background one group of each side.
- ``miou``: per image, the true objects matched one-to-one to the predicted slots by the largest summed IoU
  (Hungarian, ``scipy.optimize.linear_sum_assignment``), the mean IoU of the true objects (0 for one left
  without a slot).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

INK = 0.1       # a pixel where no slot draws more than this (summed over channels) is predicted background
_CHUNK = 512    # canvases per chunk of slot drawings: (chunk, M, H, W) float32 stays small


def stamp_ink_maps(stamps) -> np.ndarray:
    """The stamps' ink per pixel, channels summed: (K, S, S[, C]) → (K, S, S)."""
    stamps = np.asarray(stamps, np.float32)
    return stamps.sum(axis=-1) if stamps.ndim == 4 else stamps


def placed_stamps(stamps, canvas_shape) -> np.ndarray:
    """Every stamp at every corner, without a copy: a view (K, H + 1, W + 1, H, W) whose ``[k, H − y, W − x]`` is
    the ink of stamp ``k`` drawn with its upper-left corner at (y, x) on a canvas of ``canvas_shape`` (H, W)."""
    ink = stamp_ink_maps(stamps)                                            # (K, S, S)
    H, W = canvas_shape
    padded = np.zeros((len(ink), 2 * H, 2 * W), np.float32)                 # a corner up to (H, W) stays inside
    padded[:, H:H + ink.shape[1], W:W + ink.shape[2]] = ink
    return np.lib.stride_tricks.sliding_window_view(padded, (H, W), axis=(1, 2))


def slot_drawings(stamps, classes, coords, canvas_shape) -> np.ndarray:
    """The ink each slot draws: its stamp ``classes`` (N, M) with upper-left corner ``coords`` (N, M, 2), on a
    canvas of ``canvas_shape`` (H, W); (N, M, H, W) float32."""
    classes, coords = np.asarray(classes), np.asarray(coords)
    H, W = canvas_shape
    return placed_stamps(stamps, canvas_shape)[classes, H - coords[..., 0], W - coords[..., 1]]


def predicted_segmentation(stamps, classes, coords, canvas_shape, ink: float = INK) -> np.ndarray:
    """Each pixel's slot (1 … M) by the most ink drawn there (the first such slot on a tie), 0 where no slot
    draws more than ``ink``; (N, H, W) int16. Slot by slot over chunks of canvases: no (N, M, H, W) array."""
    classes, coords = np.asarray(classes), np.asarray(coords)
    placed = placed_stamps(stamps, canvas_shape)
    H, W = canvas_shape
    out = np.zeros((len(classes), H, W), np.int16)
    for start in range(0, len(classes), _CHUNK):
        k, y, x = classes[start:start + _CHUNK], coords[start:start + _CHUNK, :, 0], coords[start:start + _CHUNK, :, 1]
        most = placed[k[:, 0], H - y[:, 0], W - x[:, 0]]                    # (n, H, W): slot 1's ink
        slot = np.ones(most.shape, np.int16)
        for m in range(1, k.shape[1]):
            drawn = placed[k[:, m], H - y[:, m], W - x[:, m]]
            slot[drawn > most] = m + 1                                       # strictly more: argmax's first slot
            np.maximum(most, drawn, out=most)
        out[start:start + _CHUNK] = np.where(most > ink, slot, 0)
    return out


def _pairs(x):
    return x * (x - 1) / 2.0


def contingency(true_seg, pred_seg, foreground_only: bool = False, chunk: int = 256) -> np.ndarray:
    """Per image, the pixel counts of every (predicted group, true group) pair; (N, P, T) float64, P and T one
    more than the largest labels. ``foreground_only``: the true background's pixels (label 0) left out. Counted
    ``chunk`` images at a time, so that the pair indices stay in cache."""
    t = np.asarray(true_seg).reshape(len(true_seg), -1)                    # (N, pixels)
    p = np.asarray(pred_seg).reshape(len(pred_seg), -1)                    # (N, pixels)
    nt, npred = int(t.max(initial=0)) + 1, int(p.max(initial=0)) + 1
    out = np.empty((len(t), npred, nt))
    for start in range(0, len(t), chunk):
        tc, pc = t[start:start + chunk], p[start:start + chunk]
        n = len(tc)
        index = pc.astype(np.intp) * nt + tc + (np.arange(n, dtype=np.intp) * (npred * nt))[:, None]  # image, P, T
        if foreground_only:
            index = index[tc > 0]
        out[start:start + chunk] = np.bincount(index.ravel(), minlength=n * npred * nt).reshape(n, npred, nt)
    return out


def adjusted_rand_index(true_seg, pred_seg, foreground_only: bool = True, nij=None) -> np.ndarray:
    """Per-image adjusted Rand index of two segmentations (N, H, W) (integers, 0 the true background); with
    ``foreground_only`` the true background's pixels are left out (ARI-FG). (N,) float64, NaN for an image with
    fewer than two pixels to compare. ``nij``: their :func:`contingency`, when already counted."""
    if nij is None:
        nij = contingency(true_seg, pred_seg, foreground_only)
    elif foreground_only:
        nij = nij[:, :, 1:]                                                  # the true background's column
    a, b = nij.sum(axis=2), nij.sum(axis=1)                                  # (N, P), (N, T)
    n = nij.sum(axis=(1, 2))                                                 # (N,)
    index_sum = _pairs(nij).sum(axis=(1, 2))
    sum_a, sum_b = _pairs(a).sum(axis=1), _pairs(b).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = sum_a * sum_b / _pairs(n)
        ari = (index_sum - expected) / ((sum_a + sum_b) / 2.0 - expected)
    single = ((a > 0).sum(axis=1) == 1) & ((b > 0).sum(axis=1) == 1)         # both sides one group: 1
    ari = np.where(single, 1.0, ari)
    return np.where(n >= 2, ari, np.nan)


def matched_iou(true_seg, pred_seg, nij=None) -> np.ndarray:
    """Per image, the mean IoU of the true objects (labels ≥ 1) with the predicted groups (labels ≥ 1) they are
    matched to one-to-one by the largest summed IoU (0 for an object left without one); (N,) float64, NaN for an
    image without a true object. ``nij``: their :func:`contingency` (all pixels), when already counted."""
    if nij is None:
        nij = contingency(true_seg, pred_seg)
    area_pred, area_true = nij.sum(axis=2), nij.sum(axis=1)                  # (N, P), (N, T)
    inter = nij[:, 1:, 1:]                                                   # groups and objects, no background
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area_pred[:, 1:, None] + area_true[:, None, 1:] - inter)  # (N, P − 1, T − 1)
    iou = np.nan_to_num(iou)
    out = np.full(len(nij), np.nan)
    for i in range(len(nij)):
        present = area_true[i, 1:] > 0
        if not present.any():
            continue
        m = iou[i][:, present]
        rows, cols = linear_sum_assignment(-m)
        out[i] = m[rows, cols].sum() / present.sum()
    return out


def segmentation_measures(true_seg, stamps, classes, coords) -> dict:
    """``ari_fg``, ``ari`` and ``miou`` of the segmentation the slots draw against the true one (N, H, W)."""
    pred = predicted_segmentation(stamps, classes, coords, np.shape(true_seg)[1:3])
    nij = contingency(true_seg, pred)                                         # counted once for all three
    mean = lambda v: float(np.nanmean(v)) if np.isfinite(v).any() else None
    return {"ari_fg": mean(adjusted_rand_index(true_seg, pred, foreground_only=True, nij=nij)),
            "ari": mean(adjusted_rand_index(true_seg, pred, foreground_only=False, nij=nij)),
            "miou": mean(matched_iou(true_seg, pred, nij=nij))}


def segmentation_from_entity_masks(masks, background: bool = True) -> np.ndarray:
    """Entity masks (N, E, H, W) (DeepMind's layout, entity 0 the background when ``background``) → a
    segmentation (N, H, W) int16: each pixel's entity with the largest mask value, 0 for the background."""
    masks = np.asarray(masks)
    seg = masks.argmax(axis=1).astype(np.int16)
    if not background:
        seg = np.where(masks.max(axis=1) > 0, seg + 1, 0).astype(np.int16)
    return seg
