"""Evaluation measures for StampNet, following the 2019 authors' analysis notebook.

Pure NumPy / SciPy / scikit-learn (no Keras or TensorFlow import), so it can run on saved predictions.

Conventions (shapes):
    N images, M slots (stamps per canvas), K stamps, C = img - stamp_size + 1 coordinate positions,
    n objects per canvas. Coordinates are integer upper-left corners ``(y, x)``; a box is the
    ``stamp_size x stamp_size`` square starting there, clipped to the canvas.

Matching objects to slots
    ``greedy`` (2019): for each true object in order, the nearest still-unused slot by Manhattan distance
    of the upper-left corners (ties: lowest slot index). ``hungarian``: the assignment minimising the
    summed Manhattan distance (``scipy.optimize.linear_sum_assignment``). Objects left without a slot
    (only when n > M) get slot ``-1``: they count as not localised in ``cor_loc`` and are left out of the
    clustering measures (as the 2019 ``zip`` truncation did).

Empty slots
    Where the stamps are known, a slot drawing less than ``EMPTY_INK`` (5 %) of the mean object's ink
    (:func:`drawing_slots`) detects nothing: it is matched to no object, and its box is not a predicted box
    (``iou``, ``cor_loc``, ``brightest_first``). Without empty slots (every 2019 model) this changes nothing.

Naming in :func:`compute_measures`
    With ``matching="greedy"`` the matching-dependent measures have the 2019 names (``cor_loc``, ``nmi``,
    ``acc``, ``purity``); with ``matching="hungarian"`` they get a ``_hungarian`` suffix
    (``cor_loc_hungarian``, ...). ``iou`` and the rest do not depend on the matching and never get a suffix.
"""
from __future__ import annotations


from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import entr
from sklearn.metrics import normalized_mutual_info_score

from stampnet import ConfigError

EPS = 1e-5  # the 2019 notebook's epsilon: the floor of a reconstruction's value inside log2 (BCE)
MATCHING_METHODS = ("greedy", "hungarian")


@dataclass(frozen=True)
class Measure:
    """One measure, declared once: evaluate's table and CSV, ``--epochs``, the quality figures, the Table's
    columns and the README's blocks all read this list (:data:`MEASURES`).

    ``key``: its name in :func:`compute_measures`' dict; ``title``: a column heading; ``about``: one line of what
    it is; ``better``: "higher", "lower" or None (a diagnostic); ``needs``: what the canvases must carry
    (:class:`stampnet.data.Carries` fields: "boxes", "labels", "masks"; "intensities": the objects' brightness)
    or the model ("stamps"), which decides when its group (:func:`group`) runs; ``matched``: it
    depends on the matching of slots to objects (``_hungarian`` suffix); ``by_epoch``: a column of
    ``evaluate --epochs``; ``quality``: drawn in the quality-by-epoch figure; ``fmt``: its number format."""

    key: str
    title: str
    about: str
    better: str | None = "higher"
    needs: tuple = ()
    matched: bool = False
    by_epoch: bool = False
    quality: bool = False
    fmt: str = ".4f"

    def format(self, value) -> str:
        return "n/a" if value is None else format(value, self.fmt) if isinstance(value, float) else str(value)


MEASURES = (
    Measure("ari_fg", "ARI-FG", "adjusted Rand index of the slots' masks over the true objects' pixels",
            needs=("masks", "stamps"), by_epoch=True, quality=True),
    Measure("ari", "ARI", "adjusted Rand index of the slots' masks over all pixels", needs=("masks", "stamps")),
    Measure("miou", "mIoU", "mean IoU of each true mask with its one-to-one matched slot mask",
            needs=("masks", "stamps"), by_epoch=True),
    Measure("cor_loc", "CorLoc", "share of objects whose matched slot's square has IoU ≥ 0.5 with its box",
            needs=("boxes",), matched=True, by_epoch=True, quality=True),
    Measure("iou", "IoU", "IoU of the union of true boxes with the union of the slots' squares",
            needs=("boxes",), by_epoch=True, quality=True),
    Measure("cor_loc_ink", "CorLoc (ink)", "CorLoc with each slot's box centred on the ink it draws",
            needs=("boxes", "stamps"), matched=True, by_epoch=True),
    Measure("iou_ink", "IoU (ink)", "IoU with each slot's box centred on the ink it draws",
            needs=("boxes", "stamps"), by_epoch=True),
    Measure("stamp_offset", "offset (px)", "mean distance of the chosen stamps' ink centroids from their "
            "squares' centres", better="lower", needs=("boxes", "stamps"), by_epoch=True, fmt=".2f"),
    Measure("purity", "purity", "share of matched objects in their stamp's majority class",
            needs=("labels",), matched=True, by_epoch=True, quality=True),
    Measure("nmi", "NMI", "normalised mutual information of true classes and stamps", needs=("labels",),
            matched=True, by_epoch=True),
    Measure("acc", "accuracy", "accuracy under the best one-to-one map of stamps to classes",
            needs=("labels",), matched=True, by_epoch=True),
    Measure("empty_slot_rate", "empty slots", "share of unmatched slots that draw nothing",
            needs=("boxes", "stamps"), matched=True),
    Measure("slots_drawing", "slots drawing", "mean number of slots per canvas that draw (not empty)",
            better=None, needs=("boxes", "stamps"), by_epoch=True, fmt=".3f"),
    Measure("unmatched_slot_ink", "unmatched ink", "mean ink of an unmatched slot, relative to an object's",
            better="lower", needs=("boxes", "stamps")),
    Measure("unmatched_on_object", "unmatched on object", "where the ink of unmatched slots that draw goes",
            better=None, needs=("boxes", "stamps")),
    Measure("brightest_first", "brightest first", "share of canvases whose localised objects are the brightest",
            better=None, needs=("boxes", "intensities")),
    Measure("avg_total_mse", "MSE", "mean per-canvas summed squared error of the reconstruction", better="lower",
            by_epoch=True),
    Measure("avg_total_bce", "BCE", "mean per-canvas binary cross-entropy of the reconstruction (bits)",
            better="lower", by_epoch=True),
    Measure("entropy_stamp_mean", "H(stamp)", "mean entropy of a slot's stamp choice (bits)", better=None,
            by_epoch=True),
    Measure("entropy_stamp_max", "max H(stamp)", "largest entropy of a slot's stamp choice (bits)", better=None),
    Measure("entropy_coord_mean", "H(coord)", "mean entropy of a slot's y or x choice (bits)", better=None,
            by_epoch=True),
    Measure("entropy_coord_max", "max H(coord)", "largest entropy of a slot's y or x choice (bits)", better=None),
    Measure("entropy_coord_joint_mean", "H(y, x)", "mean entropy of a slot's coordinate map (bits)", better=None),
    Measure("entropy_coord_joint_max", "max H(y, x)", "largest entropy of a slot's coordinate map (bits)",
            better=None),
    Measure("n_stamps_used", "stamps used", "stamps that some slot chooses (with ink)", better=None,
            by_epoch=True),
)
BY_KEY = {m.key: m for m in MEASURES}
MATCHED_MEASURES = tuple(m.key for m in MEASURES if m.matched)


def measure_keys(measures, matching_suffixes=("", "_hungarian")) -> list[str]:
    """The result keys of ``measures`` (Measure objects), each matched one under every matching suffix."""
    return [f"{m.key}{s}" if s else m.key for m in measures for s in (matching_suffixes if m.matched else ("",))]


def declared(key: str):
    """The :class:`Measure` of a result key (``cor_loc_hungarian`` → cor_loc), or None."""
    return BY_KEY.get(key) or BY_KEY.get(key.removesuffix("_hungarian"))


def format_value(key: str, value) -> str:
    """A value of the result ``key`` as the tables print it: in its measure's declared format (other floats
    with 4 decimals), "n/a" for None."""
    value = float(value) if isinstance(value, np.floating) else value
    return (declared(key) or Measure(key, key, "")).format(value)
EMPTY_INK = 0.05  # an unmatched slot drawing less than this share of the mean object's ink is empty


# --------------------------------------------------------------------------------------------------
# Slots: predicted coordinates and classes, matching to true objects
# --------------------------------------------------------------------------------------------------

def predict_slots(stamp_probs, y_probs, x_probs):
    """Predicted (coords (N,M,2) int64, classes (N,M) int64) of every slot.

    The coordinate is the argmax of the slot's coordinate map; the map is the outer product of the y and
    x distributions, so that is ``(argmax y, argmax x)``. The class is the argmax of the stamp distribution.
    """
    y_probs, x_probs = np.asarray(y_probs), np.asarray(x_probs)  # (N, M, C) each
    coords = np.stack([np.argmax(y_probs, axis=-1), np.argmax(x_probs, axis=-1)], axis=-1)
    classes = np.argmax(np.asarray(stamp_probs), axis=-1)  # (N, M)
    return coords.astype(np.int64), classes.astype(np.int64)


def manhattan(a, b):
    """Manhattan distance between coordinates ``a`` (..., 2) and ``b`` (..., 2), broadcasting."""
    return np.abs(np.asarray(a) - np.asarray(b)).sum(axis=-1)


def match_slots(true_coords, pred_coords, method: str = "greedy", drawing=None):
    """Slot index (N, n) matched to every true object; -1 where no slot is left (n > M).

    true_coords (N, n, 2), pred_coords (N, M, 2). ``greedy``: objects in order each take the nearest
    unused slot (Manhattan distance of the upper-left corners, ties to the lowest slot), as in 2019.
    ``hungarian``: minimum total Manhattan distance. ``drawing`` (N, M) bool: only these slots can be
    matched (:func:`drawing_slots`); default all.
    """
    true_coords = np.asarray(true_coords, dtype=np.int64)
    pred_coords = np.asarray(pred_coords, dtype=np.int64)
    n_img, n_obj = true_coords.shape[:2]
    n_slots = pred_coords.shape[1]
    if pred_coords.shape[0] != n_img:
        raise ValueError(f"true_coords has {n_img} canvases but pred_coords {pred_coords.shape[0]}")
    slot_of = np.full((n_img, n_obj), -1, dtype=np.int64)
    drawing = np.ones((n_img, n_slots), bool) if drawing is None else np.asarray(drawing, bool)
    if method == "greedy":
        taken = ~drawing
        rows = np.arange(n_img)
        for j in range(min(n_obj, n_slots)):
            dist = manhattan(pred_coords, true_coords[:, j:j + 1]).astype(float)  # (N, M)
            dist[taken] = np.inf
            slot = np.argmin(dist, axis=1)  # first minimum = lowest slot index
            free = np.isfinite(dist[rows, slot])
            slot_of[free, j] = slot[free]
            taken[rows[free], slot[free]] = True
    elif method == "hungarian":
        for i in range(n_img):
            usable = np.flatnonzero(drawing[i])
            cost = manhattan(true_coords[i][:, None, :], pred_coords[i][None, usable, :])  # (n, M')
            obj, slot = linear_sum_assignment(cost)
            slot_of[i, obj] = usable[slot]
    else:
        raise ConfigError(f"unknown matching {method!r}; choose one of {list(MATCHING_METHODS)}")
    return slot_of


# --------------------------------------------------------------------------------------------------
# Clustering measures
# --------------------------------------------------------------------------------------------------

def _contingency(labels_true, labels_pred):
    """Counts (n_true_labels, n_clusters) of every (label, cluster) pair."""
    _, t = np.unique(np.asarray(labels_true).ravel(), return_inverse=True)
    _, p = np.unique(np.asarray(labels_pred).ravel(), return_inverse=True)
    table = np.zeros((t.max(initial=-1) + 1, p.max(initial=-1) + 1), dtype=np.int64)
    np.add.at(table, (t, p), 1)
    return table


def cluster_accuracy(labels_true, labels_pred) -> float:
    """Accuracy under the best one-to-one mapping of clusters to labels (Hungarian on the confusion matrix).

    Clusters left without a label (more clusters than labels) count as wrong, as in the 2019 ``get_accuracy``.
    """
    table = _contingency(labels_true, labels_pred)
    if table.size == 0:
        return float("nan")
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def cluster_to_label(labels_true, labels_pred) -> dict:
    """{cluster: label} of the best one-to-one mapping (the one :func:`cluster_accuracy` scores); clusters left
    without a label are absent."""
    t_names, t = np.unique(np.asarray(labels_true).ravel(), return_inverse=True)
    p_names, p = np.unique(np.asarray(labels_pred).ravel(), return_inverse=True)
    table = np.zeros((len(t_names), len(p_names)), dtype=np.int64)
    np.add.at(table, (t, p), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {p_names[c].item(): t_names[r].item() for r, c in zip(rows, cols)}


def purity(labels_true, labels_pred) -> float:
    """Sum over clusters of the count of the cluster's most frequent true label, divided by N."""
    table = _contingency(labels_true, labels_pred)
    if table.size == 0:
        return float("nan")
    return float(table.max(axis=0).sum() / table.sum())


def nmi(labels_true, labels_pred, average_method: str = "geometric") -> float:
    """Normalised mutual information (scikit-learn).

    ``geometric`` by default: the 2019 notebook ran scikit-learn < 0.22, whose default was the geometric
    mean (its output shows the 0.22 FutureWarning); newer scikit-learn defaults to ``arithmetic``.
    """
    return float(normalized_mutual_info_score(np.asarray(labels_true).ravel(), np.asarray(labels_pred).ravel(),
                                              average_method=average_method))


# --------------------------------------------------------------------------------------------------
# Entropies and reconstruction errors
# --------------------------------------------------------------------------------------------------

def entropy_bits(probs, axis: int = -1):
    """Entropy in bits along ``axis``, ``-sum p log2 p`` with 0 log 0 = 0: never below 0, 0 for a one-hot
    distribution, log2(n) for a uniform one over n. (The 2019 notebook's ``-sum p log2(p + 1e-5)`` is below 0
    for a one-hot p.)"""
    h = np.sum(entr(np.asarray(probs, dtype=np.float64)), axis=axis) / np.log(2.0)
    return h + 0.0  # entr(1) is -0.0: print 0, not -0


_CHUNK = 256  # images per chunk of the reconstruction errors: float64 temporaries that fit in cache, not GBs


def _float64_chunks(images, recon):
    """(y, y_hat) as float64, ``_CHUNK`` images at a time."""
    for start in range(0, len(images), _CHUNK):
        yield (np.asarray(images[start:start + _CHUNK], np.float64),
               np.asarray(recon[start:start + _CHUNK], np.float64))


def avg_total_mse(images, recon) -> float:
    """Mean squared error over all pixels and images."""
    total, count = 0.0, 0
    for y, y_hat in _float64_chunks(images, recon):
        total += float(np.sum((y - y_hat) ** 2))
        count += y.size
    return total / max(count, 1)


def avg_total_bce(images, recon, eps: float = EPS) -> float:
    """Base-2 binary cross-entropy ``-(y log2 y_hat + (1-y) log2(1-y_hat))`` with 0 log 0 = 0, summed over the
    pixels of an image, averaged over images. A pixel's log is floored at log2(eps) (a pixel wrong by 1 costs
    -log2(1e-5) = 16.6 bits, as in 2019, not infinity); a perfect binary reconstruction gives exactly 0."""
    total = 0.0
    for y, y_hat in _float64_chunks(images, recon):
        # y log(max(y_hat, eps)) is xlogy's value (the log is finite, so y = 0 gives 0), without its slow ufunc
        bits = y * np.log(np.maximum(y_hat, eps))
        bits += (1.0 - y) * np.log(np.maximum(1.0 - y_hat, eps))
        total += float(bits.sum())
    return float(0.0 - total / np.log(2.0) / max(len(images), 1))  # 0.0 - x: never -0.0


# --------------------------------------------------------------------------------------------------
# Localisation
# --------------------------------------------------------------------------------------------------

def _box_interval(start, size, limit):
    """Clipped [lo, hi) of a box side starting at ``start``; ``limit=None`` means no canvas."""
    lo, hi = start, start + size
    if limit is not None:
        lo, hi = np.clip(lo, 0, limit), np.clip(hi, 0, limit)
    return lo, hi


def box_iou(a, b, stamp_size: int, canvas_shape=None):
    """IoU (...) of the stamp_size squares with upper-left corners ``a`` (..., 2) and ``b`` (..., 2).

    With ``canvas_shape=(H, W)`` both boxes are first clipped to the canvas. 0 where the union is empty.
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    limits = (None, None) if canvas_shape is None else canvas_shape[:2]
    inter = np.ones(np.broadcast_shapes(a.shape, b.shape)[:-1], np.int64)
    area_a = np.ones(a.shape[:-1], np.int64)
    area_b = np.ones(b.shape[:-1], np.int64)
    for d in range(2):
        a_lo, a_hi = _box_interval(a[..., d], stamp_size, limits[d])
        b_lo, b_hi = _box_interval(b[..., d], stamp_size, limits[d])
        inter = inter * np.maximum(0, np.minimum(a_hi, b_hi) - np.maximum(a_lo, b_lo))
        area_a = area_a * (a_hi - a_lo)
        area_b = area_b * (b_hi - b_lo)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def box_masks(coords, stamp_size: int, canvas_shape, keep=None):
    """Boolean masks (N, H, W): the union of the clipped boxes with upper-left corners ``coords`` (N, n, 2),
    only those where ``keep`` (N, n) is true when given."""
    coords = np.asarray(coords, np.int64)
    height, width = canvas_shape[:2]
    ys, xs = np.arange(height), np.arange(width)
    in_y = (ys >= coords[..., 0, None]) & (ys < coords[..., 0, None] + stamp_size)  # (N, n, H)
    in_x = (xs >= coords[..., 1, None]) & (xs < coords[..., 1, None] + stamp_size)  # (N, n, W)
    if keep is not None:
        in_y = in_y & np.asarray(keep, bool)[..., None]
    return (in_y[..., :, None] & in_x[..., None, :]).any(axis=1)


def union_iou(true_coords, pred_coords, stamp_size: int, canvas_shape, chunk: int = 512, drawing=None):
    """Per-canvas IoU (N,): area(union of true boxes ∩ union of predicted boxes) / area(their union).

    true_coords (N, n, 2), pred_coords (N, M, 2): every true object and every slot (every slot that draws,
    ``drawing`` (N, M) bool, when given) take part, so the measure does not depend on the matching. 0 where
    both unions are empty.
    """
    true_coords, pred_coords = np.asarray(true_coords), np.asarray(pred_coords)
    out = np.empty(len(true_coords))
    for start in range(0, len(true_coords), chunk):
        sl = slice(start, start + chunk)
        t = box_masks(true_coords[sl], stamp_size, canvas_shape)
        p = box_masks(pred_coords[sl], stamp_size, canvas_shape, None if drawing is None else drawing[sl])
        inter = (t & p).sum(axis=(1, 2))
        union = (t | p).sum(axis=(1, 2))
        out[sl] = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return out


def cor_loc(true_coords, pred_coords, slot_of, stamp_size: int, canvas_shape=None, threshold: float = 0.5):
    """Fraction of objects whose matched predicted box has IoU >= threshold with the object's box.

    true_coords (N, n, 2), pred_coords (N, M, 2), slot_of (N, n) from :func:`match_slots`; objects without
    a slot (-1) count as not localised.
    """
    true_coords, pred_coords, slot_of = np.asarray(true_coords), np.asarray(pred_coords), np.asarray(slot_of)
    matched = np.take_along_axis(pred_coords, np.maximum(slot_of, 0)[..., None], axis=1)  # (N, n, 2)
    ok = (box_iou(true_coords, matched, stamp_size, canvas_shape) >= threshold) & (slot_of >= 0)
    return float(ok.mean()) if ok.size else float("nan")


def ink_centroids(stamps) -> np.ndarray:
    """(K, 2) ink centroid (dy, dx) of every stamp (K, S, S[, Ch]) from its square's centre, channels summed;
    0 for a stamp without ink."""
    from stampnet.masks import stamp_ink_maps

    ink = np.clip(stamp_ink_maps(stamps), 0, None)                                   # (K, S, S)
    total = ink.sum(axis=(1, 2))
    grid = np.mgrid[:ink.shape[1], :ink.shape[2]] - (np.array(ink.shape[1:])[:, None, None] - 1) / 2
    centre = np.einsum("kyx,dyx->kd", ink, grid) / np.maximum(total, 1e-12)[:, None]
    return np.where(total[:, None] > 0, centre, 0.0)


def ink_centred(pred_coords, classes, stamps) -> np.ndarray:
    """Each slot's box moved to be centred on what it draws: its corner plus its stamp's ink centroid, rounded;
    (N, M, 2) int64 (what the ink-centred CorLoc and IoU compare, beside the paper's slot square)."""
    return np.rint(np.asarray(pred_coords) + ink_centroids(stamps)[np.asarray(classes)]).astype(np.int64)


def stamp_offset(classes, stamps, drawing=None) -> float:
    """The mean distance (px) of the chosen stamps' ink centroids from their squares' centres, over the slots
    (those that draw, given ``drawing`` (N, M)): 0 when every stamp draws its object centred."""
    dist = np.linalg.norm(ink_centroids(stamps), axis=1)[np.asarray(classes)]       # (N, M)
    if drawing is not None:
        dist = dist[np.asarray(drawing, bool)]
    return float(dist.mean()) if dist.size else float("nan")


def stamp_usage(classes, n_stamps: int):
    """Counts (M, K): how often every slot picked every stamp (argmax class, classes (N, M))."""
    classes = np.asarray(classes, np.int64)
    usage = np.zeros((classes.shape[1], n_stamps), np.int64)
    for m in range(classes.shape[1]):
        usage[m] = np.bincount(classes[:, m], minlength=n_stamps)[:n_stamps]
    return usage


# --------------------------------------------------------------------------------------------------
# The authors' README claims: an empty stamp for unused slots, the brightest objects first
# --------------------------------------------------------------------------------------------------

def stamp_ink(stamps):
    """Ink (K,) of every stamp: its pixel sum. stamps (K, S, S[, 1]) as drawn."""
    stamps = np.asarray(stamps, np.float64)
    return stamps.reshape(len(stamps), -1).sum(axis=1)


def slot_ink(stamps, stamp_probs):
    """Ink (N, M) each slot puts on the canvas: the pixel sum of its drawn stamp, sum_k p[k] * sum(stamp_k)
    (at the test temperature p is one-hot: the argmax stamp's pixel sum). The decoder places a stamp wholly
    inside the canvas and a slot's coordinate probabilities sum to 1, so the position does not change it.

    stamps (K, S, S[, 1]) as drawn; stamp_probs (N, M, K)."""
    return np.asarray(stamp_probs, np.float64) @ stamp_ink(stamps)


def drawing_slots(images, coords, stamps, stamp_probs, threshold: float = EMPTY_INK):
    """(ink (N, M), object_ink, drawing (N, M) bool) of canvases images (N, H, W[, 1]) with objects at coords
    (N, n, 2): each slot's ink (:func:`slot_ink`), the mean object's (:func:`mean_object_ink`), and the slots
    that draw at least ``threshold`` of it; the others are empty and detect nothing. Without stamps (None)
    ink and drawing are None: every slot counts."""
    object_ink = mean_object_ink(images, np.asarray(coords)[..., 0].size)
    if stamps is None:
        return None, object_ink, None
    ink = slot_ink(stamps, stamp_probs)
    return ink, object_ink, ink >= threshold * max(object_ink, 1e-12)


def slots_drawing(drawing) -> float:
    """The mean number of slots per canvas that draw, from :func:`drawing_slots`' ``drawing`` (N, M)."""
    return float(np.asarray(drawing, bool).sum(axis=1).mean())


def mean_object_ink(images, n_objects: int) -> float:
    """The mean object's ink: the canvases' pixel sum over the number of objects on them (exact where objects
    do not overlap; overlaps are clipped at 1 on the canvas)."""
    return float(np.sum(images, dtype=np.float64) / max(int(n_objects), 1))  # float64 sums, no float64 copy


def unmatched_ink(ink, slot_of, object_ink: float):
    """(N, M): the ink of every slot that no object was matched to, relative to ``object_ink`` (the mean
    object's ink); NaN at matched slots. ink (N, M) from :func:`slot_ink`, slot_of (N, n) from
    :func:`match_slots`."""
    ink, slot_of = np.asarray(ink, np.float64), np.asarray(slot_of, np.int64)
    matched = np.zeros(ink.shape, bool)
    rows, objs = np.nonzero(slot_of >= 0)
    matched[rows, slot_of[rows, objs]] = True
    return np.where(matched, np.nan, ink / max(float(object_ink), 1e-12))


def empty_slot_rate(relative_ink, threshold: float = EMPTY_INK) -> float:
    """Share of unmatched slots drawing less than ``threshold`` of the mean object's ink (relative_ink from
    :func:`unmatched_ink`); NaN when every slot is matched."""
    values = np.asarray(relative_ink, np.float64)
    values = values[~np.isnan(values)]
    return float((values < threshold).mean()) if values.size else float("nan")


def unmatched_on_object(relative_ink, true_coords, pred_coords, stamp_size: int, canvas_shape=None,
                        threshold: float = EMPTY_INK) -> float:
    """Share of the unmatched slots that draw (relative ink >= ``threshold``) whose box lies on an object
    (IoU >= 0.5 with some object's box): that object drawn a second time, redrawn or split between slots,
    rather than ink put elsewhere. NaN when no unmatched slot draws. relative_ink (N, M) from
    :func:`unmatched_ink`."""
    rel = np.asarray(relative_ink, np.float64)
    drawing = ~np.isnan(rel) & (np.nan_to_num(rel) >= threshold)
    if not drawing.any():
        return float("nan")
    on_object = _box_ious(true_coords, pred_coords, stamp_size, canvas_shape).max(axis=1) >= 0.5  # (N, M)
    return float(on_object[drawing].mean())


def _box_ious(true_coords, pred_coords, stamp_size: int, canvas_shape=None):
    """(N, n, M): IoU of every object's box with every slot's box."""
    true_coords, pred_coords = np.asarray(true_coords, np.int64), np.asarray(pred_coords, np.int64)
    return box_iou(true_coords[:, :, None, :], pred_coords[:, None, :, :], stamp_size, canvas_shape)


def localised_objects(true_coords, pred_coords, stamp_size: int, canvas_shape=None, threshold: float = 0.5,
                      drawing=None):
    """Boolean (N, n): objects whose box has IoU >= threshold with the box of some slot (any slot that draws,
    ``drawing`` (N, M) bool, when given: no matching, which with more objects than slots would depend on the
    objects' order)."""
    hit = _box_ious(true_coords, pred_coords, stamp_size, canvas_shape) >= threshold     # (N, n, M)
    if drawing is not None:
        hit &= np.asarray(drawing, bool)[:, None, :]
    return hit.any(axis=2)


def brightest_first(localised, intensities, n_slots: int):
    """Boolean (N,): a canvas's localised objects are exactly its ``n_slots`` brightest — that many of them,
    none dimmer than an object left out (objects of equal intensity at the boundary may swap).

    localised (N, n) from :func:`localised_objects`; intensities (N, n) the objects' brightness factors."""
    loc, inten = np.asarray(localised, bool), np.asarray(intensities, np.float64)
    count_ok = loc.sum(axis=1) == min(int(n_slots), loc.shape[1])
    dimmest_in = np.where(loc, inten, np.inf).min(axis=1)
    brightest_out = np.where(loc, -np.inf, inten).max(axis=1)
    return count_ok & (dimmest_in >= brightest_out)


def matched_slots(images, coords, pred_coords, stamp_probs, stamps=None, matching: str = "greedy"):
    """The per-canvas part that :func:`compute_measures` and :func:`canvas_failures` share: each slot's ink,
    the mean object's ink and which slots draw (:func:`drawing_slots`; (N, M) each), and the slot matched to
    each object (:func:`match_slots`; (N, n), −1 where none)."""
    ink, object_ink, drawing = drawing_slots(images, coords, stamps, stamp_probs)
    return ink, object_ink, drawing, match_slots(coords, pred_coords, matching, drawing)


def canvas_failures(images, recon, stamp_probs, y_probs, x_probs, labels=None, coords=None, *, stamp_size: int,
                    matching: str = "greedy", stamps=None, intensities=None):
    """(scores (N,), notes [N str]): how badly each canvas fares at what :func:`compute_measures` reports for
    it, the worst highest, with a short note for a figure's caption. By the first that applies:

    - intensities and more objects than slots: 1 where ``brightest_first`` fails;
    - stamps and fewer objects than slots: the largest relative ink of an unmatched slot, plus the share of
      objects not localised (e.g. every slot empty);
    - coords: the share of objects not localised by their matched slot, plus with labels the share whose
      matched stamp maps (best one-to-one, as ``acc``) to another label;
    - otherwise: nothing but the tie-break, the canvas's squared error (scaled below 0.01).
    """
    images, recon = np.asarray(images, np.float64), np.asarray(recon, np.float64)
    sq_err = ((images - recon) ** 2).reshape(len(images), -1).sum(axis=1)
    tie = 0.01 * sq_err / max(float(sq_err.max(initial=0.0)), 1e-12)
    notes = [f"SE {e:.1f}" for e in sq_err]
    if coords is None:
        return tie, notes
    pred_coords, classes = predict_slots(stamp_probs, y_probs, x_probs)
    coords = np.asarray(coords, np.int64)
    canvas_shape = images.shape[1:3]
    n_obj, n_slots = coords.shape[1], pred_coords.shape[1]
    ink, object_ink, drawing, slot_of = matched_slots(images, coords, pred_coords, stamp_probs, stamps, matching)
    if intensities is not None and n_obj > n_slots:
        inten = np.asarray(intensities, np.float64)
        found = localised_objects(coords, pred_coords, stamp_size, canvas_shape, drawing=drawing)
        bad = ~brightest_first(found, inten, n_slots)
        listed = lambda v: "/".join(f"{x:.2g}" for x in sorted(v, reverse=True)) or "none"
        notes = [("FAIL " if b else "") + f"found {listed(i[f])} of {listed(i)}" for b, i, f in zip(bad, inten, found)]
        return bad + tie, notes
    matched = np.take_along_axis(pred_coords, np.maximum(slot_of, 0)[..., None], axis=1)  # (N, n, 2)
    lost = ~((box_iou(coords, matched, stamp_size, canvas_shape) >= 0.5) & (slot_of >= 0))  # (N, n)
    score = lost.mean(axis=1)
    if stamps is not None and n_obj < n_slots:   # an unmatched slot that draws, or an object no slot found
        worst = np.nanmax(unmatched_ink(ink, slot_of, object_ink), axis=1)
        notes = [("FAIL " if w >= EMPTY_INK or l.any() else "") + f"unmatched ink {w:.0%}"
                 + (f", {int(l.sum())} not localised" if l.any() else "") for w, l in zip(worst, lost)]
        return worst + score + tie, notes
    wrong = np.zeros_like(lost)
    if labels is not None:
        labels = np.asarray(labels, np.int64).reshape(len(images), -1)
        pred = np.take_along_axis(classes, np.maximum(slot_of, 0), axis=1)  # (N, n)
        ok = slot_of >= 0
        label_of = np.full(int(pred.max(initial=0)) + 1, -1, np.int64)  # cluster -> mapped label, -1: none
        for cluster, label in cluster_to_label(labels[ok], pred[ok]).items():
            label_of[cluster] = label
        wrong = ok & (label_of[pred] != labels)
        score = score + wrong.mean(axis=1)
    notes = [", ".join(filter(None, ((f"{int(l.sum())} not localised" if l.any() else ""),
                                     (f"{int(w.sum())} in another class" if w.any() else "")))) or "ok"
             for l, w in zip(lost, wrong)]
    return score + tie, notes


# --------------------------------------------------------------------------------------------------
# All measures: one group per set of needs, each run when the canvases carry what it needs
# --------------------------------------------------------------------------------------------------

def measure_name(name: str, matching: str) -> str:
    """Key of a measure in :func:`compute_measures`'s dict: matched measures get ``_hungarian`` appended
    under Hungarian matching; 2019 (greedy) names are unchanged."""
    return f"{name}_{matching}" if matching != "greedy" and name in MATCHED_MEASURES else name


@dataclass
class Scored:
    """What the groups of measures read: the canvases, what they carry (None where not), the slots' choices
    (:func:`predict_slots`) and, computed once when a group first asks, their matching to the objects."""

    images: np.ndarray
    recon: np.ndarray
    stamp_probs: np.ndarray
    y_probs: np.ndarray
    x_probs: np.ndarray
    labels: np.ndarray | None
    coords: np.ndarray | None
    stamps: np.ndarray | None
    intensities: np.ndarray | None
    masks: np.ndarray | None
    stamp_size: int
    matching: str

    def __post_init__(self):
        # (N, M, 2), (N, M)
        self.pred_coords, self.classes = predict_slots(self.stamp_probs, self.y_probs, self.x_probs)
        self.n_img, self.n_slots, self.n_stamps = self.stamp_probs.shape
        self.canvas_shape = self.images.shape[1:3]

    def key(self, name: str) -> str:
        return measure_name(name, self.matching)

    @cached_property
    def matched(self):
        """(ink, object_ink, drawing, slot_of) of :func:`matched_slots`."""
        return matched_slots(self.images, self.coords, self.pred_coords, self.stamp_probs, self.stamps, self.matching)

    @cached_property
    def target_slot(self):
        """A one-target set's (target (N, 1, 2), the index (N,) of its nearest slot)."""
        target = np.asarray(self.coords, np.int64).reshape(self.n_img, -1, 2)[:, :1]  # (N, 1, 2)
        return target, match_slots(target, self.pred_coords, self.matching)[:, 0]


@dataclass(frozen=True)
class Group:
    """Measures computed together (``keys``, declared in :data:`MEASURES`) by ``compute`` (a :class:`Scored` →
    dict), run when the canvases carry ``needs``."""

    keys: tuple
    compute: Callable
    needs: frozenset


GROUPS: list[Group] = []


def group(*keys: str, needs=None):
    """Register the decorated function as the group computing the measures ``keys``. It runs when the canvases
    carry what those measures declare they need (:attr:`Measure.needs`), or ``needs`` for a variant of them."""
    declared_needs = frozenset(needs if needs is not None else (n for k in keys for n in BY_KEY[k].needs))

    def register(compute):
        GROUPS.append(Group(keys, compute, declared_needs))
        return compute
    return register


@group("avg_total_mse", "avg_total_bce", "entropy_stamp_mean", "entropy_stamp_max", "entropy_coord_mean",
       "entropy_coord_max", "entropy_coord_joint_mean", "entropy_coord_joint_max", "n_stamps_used")
def _always(s: Scored) -> dict:
    """The reconstruction errors, the entropies of the slots' choices and the stamps they use (with their
    ``stamp_usage``)."""
    h_stamp = entropy_bits(s.stamp_probs)  # (N, M)
    h_y, h_x = entropy_bits(s.y_probs), entropy_bits(s.x_probs)  # (N, M) each
    h_axes = np.stack([h_y, h_x], axis=-1)  # (N, M, 2)
    usage = stamp_usage(s.classes, s.n_stamps)
    # a stamp without ink (the reserved empty stamp, or a learned one gone blank) draws nothing: not "used"
    blank = np.zeros(s.n_stamps, bool) if s.stamps is None else stamp_ink(s.stamps) <= 1e-6   # (K,)
    return {
        "avg_total_mse": avg_total_mse(s.images, s.recon),
        "avg_total_bce": avg_total_bce(s.images, s.recon),
        "entropy_stamp_mean": float(h_stamp.mean()),
        "entropy_stamp_max": float(h_stamp.max()),
        "entropy_coord_mean": float(h_axes.mean()),
        "entropy_coord_max": float(h_axes.max()),
        "entropy_coord_joint_mean": float((h_y + h_x).mean()),
        "entropy_coord_joint_max": float((h_y + h_x).max()),
        "n_stamps_used": int(((usage.sum(axis=0) > 0) & ~blank).sum()),
        "stamp_usage": usage.tolist(),
    }


@group("ari_fg", "ari", "miou")
def _segmentation(s: Scored) -> dict:
    """The slots' segmentation against the true masks (:mod:`stampnet.masks`)."""
    from stampnet.masks import segmentation_measures

    return segmentation_measures(s.masks, s.stamps, s.classes, s.pred_coords)


@group("iou", "cor_loc")
def _localisation(s: Scored) -> dict:
    """The paper's localisation: the slots' squares against the true boxes."""
    drawing, slot_of = s.matched[2:]
    return {"n_objects": int(s.coords.shape[0] * s.coords.shape[1]),
            "iou": float(union_iou(s.coords, s.pred_coords, s.stamp_size, s.canvas_shape, drawing=drawing).mean()),
            s.key("cor_loc"): cor_loc(s.coords, s.pred_coords, slot_of, s.stamp_size, s.canvas_shape)}


@group("iou_ink", "cor_loc_ink", "stamp_offset")
def _ink_localisation(s: Scored) -> dict:
    """The localisation with each slot's box centred on the ink it draws, and the stamps' offset."""
    drawing, slot_of = s.matched[2:]
    centred = ink_centred(s.pred_coords, s.classes, s.stamps)
    return {"iou_ink": float(union_iou(s.coords, centred, s.stamp_size, s.canvas_shape, drawing=drawing).mean()),
            s.key("cor_loc_ink"): cor_loc(s.coords, centred, slot_of, s.stamp_size, s.canvas_shape),
            "stamp_offset": stamp_offset(s.classes, s.stamps, drawing)}


@group("slots_drawing", "empty_slot_rate", "unmatched_slot_ink", "unmatched_on_object")
def _empty_slots(s: Scored) -> dict:
    """The slots that draw; with fewer objects than slots, what the unmatched ones draw (the README's claim)."""
    ink, object_ink, drawing, slot_of = s.matched
    out = {"slots_drawing": slots_drawing(drawing)}
    if s.coords.shape[1] < s.n_slots:
        rel = unmatched_ink(ink, slot_of, object_ink)
        out.update({s.key("empty_slot_rate"): empty_slot_rate(rel), "unmatched_slot_ink": float(np.nanmean(rel)),
                    "unmatched_on_object": unmatched_on_object(rel, s.coords, s.pred_coords, s.stamp_size,
                                                               s.canvas_shape)})
    return out


@group("brightest_first")
def _brightest_first(s: Scored) -> dict:
    """With more objects than slots: whether the slots find the brightest (the README's claim)."""
    if s.coords.shape[1] <= s.n_slots:
        return {}
    drawing = s.matched[2]
    found = localised_objects(s.coords, s.pred_coords, s.stamp_size, s.canvas_shape, drawing=drawing)
    return {"brightest_first": float(brightest_first(found, s.intensities, s.n_slots).mean())}


@group("nmi", "acc", "purity")
def _clustering(s: Scored) -> dict:
    """The matched slots' stamps against the objects' classes; without boxes only for one slot and one object."""
    labels = np.asarray(s.labels, np.int64).reshape(s.n_img, -1)  # (N, n)
    if s.coords is not None:
        slot_of = s.matched[3]
    elif s.n_slots == 1 and labels.shape[1] == 1:
        slot_of = np.zeros_like(labels)  # one slot, one object: nothing to match
    else:
        return {}
    ok = slot_of >= 0
    pred_labels = np.take_along_axis(s.classes, np.maximum(slot_of, 0), axis=1)  # (N, n)
    t, p = labels[ok], pred_labels[ok]
    return {"n_objects": int(labels.size), s.key("nmi"): nmi(t, p), s.key("acc"): cluster_accuracy(t, p),
            s.key("purity"): purity(t, p)}


@group("iou", "cor_loc", "purity", needs=("target",))
def _target_localisation(s: Scored) -> dict:
    """One target (the pedestrian): IoU and CorLoc of its nearest slot; purity of the slots as target or not."""
    target, slot = s.target_slot
    rows = np.arange(s.n_img)
    slot_labels = np.zeros((s.n_img, s.n_slots), np.int64)
    slot_labels[rows, slot] = 1
    ious = box_iou(target[:, 0], s.pred_coords[rows, slot], s.stamp_size, s.canvas_shape)  # (N,)
    return {"n_objects": int(s.n_img), "iou": float(ious.mean()), s.key("cor_loc"): float((ious >= 0.5).mean()),
            s.key("purity"): purity(slot_labels.ravel(), s.classes.ravel())}


@group("iou_ink", "cor_loc_ink", "stamp_offset", needs=("target", "stamps"))
def _target_ink_localisation(s: Scored) -> dict:
    """One target: its nearest slot's box centred on the ink it draws, and that stamp's offset."""
    target, slot = s.target_slot
    rows = np.arange(s.n_img)
    centred = ink_centred(s.pred_coords, s.classes, s.stamps)[rows, slot]
    ink_ious = box_iou(target[:, 0], centred, s.stamp_size, s.canvas_shape)
    return {"iou_ink": float(ink_ious.mean()), s.key("cor_loc_ink"): float((ink_ious >= 0.5).mean()),
            "stamp_offset": stamp_offset(s.classes[rows, slot][:, None], s.stamps)}


PAPER_MEASURES = ("iou", "cor_loc", "nmi", "acc", "purity")  # always reported: None where not measured


def compute_measures(images, recon, stamp_probs, y_probs, x_probs, labels=None, coords=None, *,
                     stamp_size: int, matching: str = "greedy", one_target: bool = False, stamps=None,
                     intensities=None, masks=None) -> dict:
    """All evaluation measures as a JSON-serialisable dict: every group of :data:`GROUPS` whose needs the
    canvases carry, merged.

    images, recon (N, H, W[, 1]); stamp_probs (N, M, K); y_probs, x_probs (N, M, C); labels (N, n) int or
    None; coords (N, n, 2) upper-left (y, x) or None; stamps (K, S, S[, C]) or None; intensities (N, n) or
    None; masks (N, H, W) true segmentations or None.

    Always: ``n_images``, ``matching``, ``avg_total_mse``, ``avg_total_bce``, entropies, ``stamp_usage``
    (M x K list), ``n_stamps_used`` (stamps some slot picks; with stamps, not those without ink), and the
    paper's measures (``iou``, ``cor_loc``, ``nmi``, ``acc``, ``purity``; None where not measured, like
    ``n_objects``); every other measure is present only where measured. Matched measures are named by
    :func:`measure_name`.

    Entropies (bits, ``-sum p log2 p``, 0 log 0 = 0): ``entropy_stamp_mean/max`` over all slots of all images;
    ``entropy_coord_mean/max`` over the y and the x distribution of every slot separately (N*M*2 values);
    ``entropy_coord_joint_mean/max`` of H(y) + H(x) per slot, the entropy of the slot's 2-D coordinate map.

    With coords: ``iou`` and ``cor_loc``; with labels and coords (or one slot and one object): ``nmi``,
    ``acc``, ``purity`` (matched slot's predicted class vs the object's true label). With coords and the
    stamps, slots drawing less than 5 % of the mean object's ink are empty: they detect nothing (module
    docstring); beside the paper's slot-square ``cor_loc`` / ``iou`` come ``cor_loc_ink`` / ``iou_ink``, the
    same with each slot's box centred on the ink it draws (:func:`ink_centred`), ``stamp_offset``, the mean
    distance of the chosen stamps' ink centroids from their squares' centres (:func:`stamp_offset`), and
    ``slots_drawing``. The README's claims, present only where they apply: with fewer objects than slots,
    ``empty_slot_rate`` (matched; :func:`empty_slot_rate`), ``unmatched_slot_ink`` (the mean ink of an
    unmatched slot relative to the mean object's) and ``unmatched_on_object`` (:func:`unmatched_on_object`);
    with intensities and more objects than slots, ``brightest_first`` (share of canvases whose localised
    objects are exactly the M brightest).

    ``one_target=True`` (the pedestrian set): coords (N, 1, 2) (or (N, 2)) is the target; labels are ignored.
    The slot nearest to it (Manhattan) is labelled 1, the others 0; ``iou`` and ``cor_loc`` (with the stamps
    the ink-centred ones and ``stamp_offset``) use that slot's box only; ``purity`` is those slot labels vs
    the predicted classes of all slots; ``nmi``/``acc`` are None.

    With true ``masks`` and the stamps: ``ari_fg``, ``ari`` and ``miou`` of the segmentation the slots draw
    (:mod:`stampnet.masks`).
    """
    if matching not in MATCHING_METHODS:
        raise ConfigError(f"unknown matching {matching!r}; choose one of {list(MATCHING_METHODS)}")
    images, recon = np.asarray(images), np.asarray(recon)
    if images.shape != recon.shape:
        raise ValueError(f"images {images.shape} and reconstructions {recon.shape} differ in shape")
    s = Scored(images, recon, *(np.asarray(a, np.float64) for a in (stamp_probs, y_probs, x_probs)),
               labels=None if one_target else labels, coords=None if coords is None else np.asarray(coords, np.int64),
               stamps=stamps, intensities=intensities, masks=masks, stamp_size=stamp_size, matching=matching)
    carried = {"boxes": coords is not None and not one_target, "target": coords is not None and one_target,
               "labels": s.labels is not None, "masks": masks is not None, "stamps": stamps is not None,
               "intensities": intensities is not None}
    out = {"n_images": int(s.n_img), "n_objects": None, "matching": matching,
           **{s.key(name): None for name in PAPER_MEASURES}}
    for g in GROUPS:
        if all(carried[need] for need in g.needs):
            out.update(g.compute(s))
    return out


_TABLE_ORDER = ("n_images", "n_objects", "matching", *measure_keys(MEASURES))


def format_table(measures: dict) -> str:
    """A two-column aligned text table of the scalar measures (lists such as stamp_usage are left out)."""
    names = [k for k in _TABLE_ORDER if k in measures]
    names += sorted(k for k in measures if k not in names)
    rows = []
    for name in names:
        value = measures[name]
        if value is None:
            text = "n/a"
        elif isinstance(value, (bool, np.bool_)):
            text = str(bool(value))
        elif isinstance(value, (int, np.integer)):
            text = str(int(value))
        elif isinstance(value, (float, np.floating)):
            text = format_value(name, value) if abs(value) < 1e4 else f"{float(value):.4g}"
        elif isinstance(value, str):
            text = value
        else:
            continue  # lists / arrays / dicts
        rows.append((name, text))
    if not rows:
        return ""
    width = max(len(n) for n, _ in rows)
    vwidth = max(len(t) for _, t in rows)
    lines = [f"{'measure'.ljust(width)}  {'value'.rjust(vwidth)}", f"{'-' * width}  {'-' * vwidth}"]
    lines += [f"{n.ljust(width)}  {t.rjust(vwidth)}" for n, t in rows]
    return "\n".join(lines)
