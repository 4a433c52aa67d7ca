"""Each figure function draws tiny inputs and writes a non-empty PNG; crops work at the border."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from stampnet.figures import cluster_gallery, crop, reconstructions, stamp_grid, training_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 100 and data[:8] == PNG_MAGIC


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_stamp_grid_writes_png(tmp_path, rng):
    stamps = rng.random((3, 4, 4))
    fig = stamp_grid(stamps, usage=np.array([[1, 0, 2], [0, 0, 5]]), path=tmp_path / "a" / "stamps.png")
    assert isinstance(fig, Figure)
    assert_png(tmp_path / "a" / "stamps.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["0 (1)", "1 (0)", "2 (7)"]
    assert isinstance(stamp_grid(stamps), Figure)   # no path: nothing written, still a figure
    faint = stamp_grid(np.stack([np.full((4, 4), 0.5), np.eye(4)]))  # one scale: a half stamp looks half
    assert [ax.images[0].get_clim() for ax in faint.axes] == [(0.0, 1.0), (0.0, 1.0)]


def test_stamp_grid_many_stamps_wraps(tmp_path, rng):
    stamp_grid(rng.random((12, 3, 3)), usage=np.arange(12), path=tmp_path / "s.png")
    assert_png(tmp_path / "s.png")


def test_reconstructions_writes_png(tmp_path, rng):
    images = rng.random((2, 8, 8, 1))
    recon = rng.random((2, 8, 8, 1))
    pred = np.array([[[0, 0], [4, 5]], [[6, 6], [1, 2]]])
    true = np.array([[[0, 1]], [[6, 5]]])
    fig = reconstructions(images, recon, pred, 3, pred_classes=[[0, 2], [1, 1]], true_coords=true,
                          path=tmp_path / "r" / "recon.png")
    assert len(fig.axes) == 4
    assert_png(tmp_path / "r" / "recon.png")
    assert isinstance(reconstructions(images[:1, ..., 0], recon[:1, ..., 0], pred[:1], 3), Figure)


def test_crop_inside_and_at_the_border():
    image = np.arange(16.0).reshape(4, 4)
    assert crop(image, 1, 1, 2).tolist() == [[5, 6], [9, 10]]
    # upper-left outside: rows -1..1, cols 2..4 -> zero row on top, zero column on the right
    assert crop(image, -1, 2, 3).tolist() == [[0, 0, 0], [2, 3, 0], [6, 7, 0]]
    assert crop(image[..., None], 3, 3, 2).tolist() == [[15, 0], [0, 0]]
    assert crop(image, 10, 10, 2).tolist() == [[0, 0], [0, 0]]


def test_cluster_gallery_writes_png_with_border_crops(tmp_path, rng):
    images = rng.random((3, 6, 6, 1))
    coords = np.array([[[0, 0], [4, 4]], [[5, 5], [2, 1]], [[0, 3], [3, 0]]])   # some run past the border
    clusters = np.array([[0, 2], [2, 2], [0, -1]])                               # -1: skipped
    fig = cluster_gallery(images, coords, clusters, 3, per_cluster=2, stamps=rng.random((3, 3, 3)),
                          path=tmp_path / "g" / "gallery.png")
    assert len(fig.axes) == 2 * 3    # clusters 0 and 2, stamp + 2 crops each
    assert_png(tmp_path / "g" / "gallery.png")
    cluster_gallery(images, coords, clusters, 3, per_cluster=4, path=tmp_path / "g2.png")
    assert_png(tmp_path / "g2.png")


def test_training_curves_writes_png(tmp_path):
    metrics = {"loss": {"steps": [1, 2, 3], "values": [10.0, 5.0, 4.0]},
               "val_loss": {"steps": [1, 2, 3], "values": [11.0, 6.0, 5.0]},
               "tau": {"steps": [1, 2, 3], "values": [1.0, 0.8, 0.6]}}
    fig = training_curves(metrics, path=tmp_path / "c" / "curves.png")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "tau"]
    assert_png(tmp_path / "c" / "curves.png")
    fig = training_curves({"loss": metrics["loss"]}, path=tmp_path / "only_loss.png")
    assert len(fig.axes) == 1
    assert_png(tmp_path / "only_loss.png")
    training_curves({}, path=tmp_path / "empty.png")
    assert_png(tmp_path / "empty.png")
