"""k-means baseline on toy data whose clustering is known."""
import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.baselines import kmeans_baseline


def blobs(n_per, seed):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [50, 0, 0], [0, 50, 0], [0, 0, 50]], float)
    labels = np.repeat([7, 3, 11, 5], n_per)  # arbitrary label ids
    return centres[np.repeat(np.arange(4), n_per)] + rng.normal(0, 1, (4 * n_per, 3)), labels


def test_separated_blobs_are_found_exactly():
    x, y = blobs(30, 0)
    xt, yt = blobs(10, 1)
    scores = kmeans_baseline(x, y, n_clusters=4, seed=0, test_features=xt, test_labels=yt)
    assert scores == {"nmi": pytest.approx(1.0), "acc": 1.0, "purity": 1.0}
    assert kmeans_baseline(x, y, 4, seed=0) == {"nmi": pytest.approx(1.0), "acc": 1.0, "purity": 1.0}


def test_images_are_flattened_and_too_few_clusters_score_lower():
    x, y = blobs(20, 2)
    images = np.repeat(x[:, :, None], 2, axis=2)  # (N, 3, 2) "images"
    assert kmeans_baseline(images, y, 4, seed=1)["acc"] == 1.0
    two = kmeans_baseline(x, y, 2, seed=1)
    assert two["acc"] == pytest.approx(0.5) and two["purity"] == pytest.approx(0.5) and two["nmi"] < 1


def test_bad_arguments():
    x, y = blobs(5, 0)
    with pytest.raises(ConfigError):
        kmeans_baseline(x, y[:-1], 4, seed=0)
    with pytest.raises(ConfigError):
        kmeans_baseline(x, y, 4, seed=0, test_features=x)
    with pytest.raises(ConfigError):
        kmeans_baseline(x, y, 100, seed=0)
