"""Non-neural baselines for StampNet's clustering measures.

``kmeans_baseline``: k-means (scikit-learn, ``n_init=10``) on raw features, e.g. the flattened centred
characters of :func:`stampnet.data.omniglot.load_characters`. It is fit on the train features and scored on the
test features (or on the train features when none are given) with the same measures as StampNet
(:mod:`stampnet.metrics`: NMI, cluster accuracy, purity). ``kmeans_clusters``: the same fit, returning the
centroids and the clusters themselves (for figures). ``kmeans_on_objects`` / ``kmeans_on_canvases``: the Table's
two k-means references for a test set of canvases with the same K as StampNet — on the true object crops (it is
given the localisation: an upper reference) and on the raw canvases (its input as translated as StampNet's).
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from stampnet import ConfigError
from stampnet.metrics import cluster_accuracy, nmi, purity


def _flat(features, name: str) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim < 2 or len(x) == 0:
        raise ConfigError(f"{name} must be (N, D) (or (N, ...) images) with N >= 1, got shape {x.shape}")
    return x.reshape(len(x), -1)


def kmeans_baseline(features, labels_true, n_clusters: int, seed: int, test_features=None,
                    test_labels=None) -> dict:
    """Fit k-means on ``features`` (N, D); score its clusters of the test set. Returns dict(nmi, acc, purity).

    Features of more than two dimensions (images) are flattened per sample. Without ``test_features`` the
    train set itself is scored.
    """
    _, y_eval, pred = kmeans_clusters(features, labels_true, n_clusters, seed, test_features, test_labels)
    return {"nmi": nmi(y_eval, pred), "acc": cluster_accuracy(y_eval, pred), "purity": purity(y_eval, pred)}


def kmeans_clusters(features, labels_true, n_clusters: int, seed: int, test_features=None, test_labels=None):
    """(centroids (K, ...) shaped as one feature sample, labels of the scored set (n,), its clusters (n,)) of
    k-means fit on ``features``, as :func:`kmeans_baseline` scores them."""
    x = _flat(features, "features")
    y = np.asarray(labels_true).ravel()
    if len(y) != len(x):
        raise ConfigError(f"{len(x)} train features but {len(y)} labels")
    if not 1 <= int(n_clusters) <= len(x):
        raise ConfigError(f"n_clusters must be in 1..{len(x)} (the number of train samples), got {n_clusters}")
    if (test_features is None) != (test_labels is None):
        raise ConfigError("give both test_features and test_labels, or neither")
    if test_features is None:
        x_eval, y_eval = x, y
    else:
        x_eval, y_eval = _flat(test_features, "test_features"), np.asarray(test_labels).ravel()
        if x_eval.shape[1] != x.shape[1] or len(y_eval) != len(x_eval):
            raise ConfigError(f"test features {x_eval.shape} / labels ({len(y_eval)}) do not match the train "
                              f"features' dimension {x.shape[1]}")
    km = KMeans(n_clusters=int(n_clusters), n_init=10, random_state=seed).fit(x)
    shape = np.shape(features)[1:]
    return km.cluster_centers_.reshape(-1, *shape), y_eval, km.predict(x_eval)


MAX_OBJECTS = 10_000   # object crops clustered per test set (the first ones)
MAX_CANVASES = 2_000   # raw canvases clustered per test set (the first ones): 2,000 × 100 × 100 features


def _scores(y, pred) -> dict:
    return {"nmi": nmi(y, pred), "acc": cluster_accuracy(y, pred), "purity": purity(y, pred)}


def kmeans_on_objects(test, n_clusters: int, size: int, seed: int, limit: int = MAX_OBJECTS) -> dict:
    """k-means with K = ``n_clusters`` on the ``size`` × ``size`` crops at the true positions of the first
    ``limit`` objects of ``test`` (Canvases with labels and upper-left coords), fit and scored on them:
    nmi, acc, purity and ``n`` (objects clustered)."""
    from stampnet.figures import crop

    n_obj = test.labels.shape[1]
    pairs = [(i, j) for i in range(len(test)) for j in range(n_obj)][:limit]
    crops = np.stack([crop(test.images[i], *test.coords[i, j], size) for i, j in pairs])
    y = np.array([test.labels[i, j] for i, j in pairs])
    _, y, pred = kmeans_clusters(crops, y, min(n_clusters, len(crops)), seed)
    return {**_scores(y, pred), "n": len(y)}


def kmeans_on_canvases(test, n_clusters: int, seed: int, limit: int = MAX_CANVASES) -> dict:
    """k-means with K = ``n_clusters`` on the first ``limit`` raw canvases of ``test``, fit and scored on them;
    every object of a canvas gets the canvas's cluster (with two objects a canvas can be right for one of them
    at most, as one slot of StampNet would be). nmi, acc, purity and ``n`` (canvases clustered)."""
    images = test.images[:limit]
    labels = test.labels[:limit]
    n_obj = labels.shape[1]
    _, _, pred = kmeans_clusters(images, labels[:, 0], min(n_clusters, len(images)), seed)
    y, pred = labels.ravel(), np.repeat(pred, n_obj)
    return {**_scores(y, pred), "n": len(images)}


def kmeans_clusterings(spec, test) -> dict:
    """Omniglot's k-means baselines with StampNet's K, {method: (centroids, labels, clusters)} of a run's
    ``spec`` (``stampnet.spec.RunSpec``): on the centred characters (fit on the training characters, scored on
    the test ones: the upper reference) and on the raw test canvases (fit and scored on them: the fair
    baseline, its input as translated as StampNet's)."""
    from stampnet.data.omniglot import load_characters

    seed, K = spec.train.seed, spec.model.n_stamps
    xtr, ytr, xte, yte, _ = load_characters(spec.data.params, seed)
    size = xtr.shape[1]
    return {f"k-means, centred {size}x{size} characters": kmeans_clusters(xtr, ytr, K, seed, xte, yte),
            "k-means, raw canvases": kmeans_clusters(test.images[..., 0], test.labels[:, 0], K, seed)}


def kmeans_rows(stamp_measures: dict, clusterings: dict, matching: str = "greedy") -> list[dict]:
    """Omniglot: StampNet's clusters beside k-means (same K, :func:`kmeans_clusterings`): nmi, acc, purity."""
    from stampnet.metrics import cluster_accuracy, measure_name, nmi, purity

    rows = [{"method": "StampNet", **{k: stamp_measures.get(measure_name(k, matching))
                                      for k in ("nmi", "acc", "purity")}}]
    rows += [{"method": method, "nmi": nmi(y, pred), "acc": cluster_accuracy(y, pred), "purity": purity(y, pred)}
             for method, (_, y, pred) in clusterings.items()]
    return rows


def format_kmeans(rows: list[dict]) -> str:
    lines = [f"{'method':<36} {'nmi':>7} {'acc':>7} {'purity':>7}"]
    fmt = lambda v: "   n/a" if v is None else f"{v:7.4f}"
    lines += [f"{r['method']:<36} {fmt(r['nmi'])} {fmt(r['acc'])} {fmt(r['purity'])}" for r in rows]
    return "\n".join(lines)
