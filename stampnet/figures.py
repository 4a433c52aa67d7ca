"""Figures for StampNet runs: learned stamps, reconstructions with boxes, cluster galleries, training curves.

Uses matplotlib's object API with the Agg canvas (no pyplot, so no global figure state and no display
needed). Every function returns the :class:`~matplotlib.figure.Figure`; with ``path=`` it also saves a PNG
there, creating the parent folders.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

PRED_COLOUR = "#ffc006"  # orange, as in the 2019 figures
TRUE_COLOUR = "#00b4ff"  # light blue, dashed


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path) -> Figure:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=100)
    return fig


def _2d(image):
    """(H, W) from (H, W) or (H, W, 1)."""
    image = np.asarray(image)
    return image[..., 0] if image.ndim == 3 else image


def _show(ax, image, **kwargs):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:   # colour canvases as they are
        ax.imshow(np.clip(image, 0, 1), interpolation="nearest")
    else:
        ax.imshow(_2d(image), cmap="viridis", interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])


def _box(ax, y, x, size, colour, linestyle="-"):
    """Outline of the size x size box whose upper-left pixel is (y, x) (pixel centres at integers)."""
    ax.add_patch(Rectangle((x - 0.5, y - 0.5), size, size, fill=False, edgecolor=colour,
                           linestyle=linestyle, linewidth=1.5))


def stamp_grid(stamps, usage=None, path=None, ncols: int = 10) -> Figure:
    """All K stamps (K, S, S[, 3]) in a grid, titled with their index and, given usage, how often each was used.
    One colour scale for all, 0 to 1 (a stamp's pixels are in [0, 1]), so a faint stamp looks faint.

    usage: (K,) counts or (M, K) per-slot counts (summed over slots).
    """
    stamps = np.asarray(stamps)
    if stamps.ndim == 4 and stamps.shape[-1] != 3:
        stamps = stamps[..., 0]           # (K, S, S, 1): grey; colour stamps (K, S, S, 3) are drawn in colour
    n_stamps = len(stamps)
    total = None if usage is None else np.asarray(usage).reshape(-1, n_stamps).sum(axis=0)
    ncols = max(1, min(ncols, n_stamps))
    nrows = max(1, math.ceil(n_stamps / ncols))
    fig = _new_figure(1.3 * ncols, 1.5 * nrows)
    for k in range(nrows * ncols):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        if k >= n_stamps:
            ax.axis("off")
            continue
        _show(ax, stamps[k], vmin=0.0, vmax=1.0)
        ax.set_title(str(k) if total is None else f"{k} ({int(total[k])})", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _input_panel(ax, image, pred_coords, stamp_size: int, pred_classes=None, true_coords=None, drawing=None,
                 **show) -> None:
    """One input (H, W[, 1]) with its slots' boxes (M, 2) (solid orange, labelled with pred_classes (M,)) and
    the true boxes (n_obj, 2) (dashed blue). With drawing (M,) bool, the boxes of slots that draw nothing
    (:func:`stampnet.metrics.drawing_slots`) are left out, as the measures leave them out."""
    _show(ax, image, **show)
    for m, (y, x) in enumerate(np.asarray(pred_coords)):
        if drawing is not None and not drawing[m]:
            continue
        _box(ax, y, x, stamp_size, PRED_COLOUR)
        if pred_classes is not None:
            ax.text(x, y, str(int(np.asarray(pred_classes)[m])), color="black", fontsize=7,
                    va="top", ha="left", bbox=dict(facecolor=PRED_COLOUR, edgecolor="none", pad=1))
    if true_coords is not None:  # dashed, on top, so a coinciding predicted box still shows through
        for y, x in np.asarray(true_coords):
            _box(ax, y, x, stamp_size, TRUE_COLOUR, "--")
    ax.set_xlim(-0.5, _2d(image).shape[1] - 0.5)
    ax.set_ylim(_2d(image).shape[0] - 0.5, -0.5)


def reconstructions(images, recon, pred_coords, stamp_size: int, pred_classes=None, true_coords=None,
                    path=None) -> Figure:
    """One row per image: the input with predicted boxes (solid orange, labelled with the predicted stamp
    index when pred_classes is given) and true boxes (dashed blue), then the reconstruction.

    images, recon (n, H, W[, 1]); pred_coords (n, M, 2); pred_classes (n, M); true_coords (n, n_obj, 2).
    """
    images, recon = np.asarray(images), np.asarray(recon)
    n = len(images)
    vmin, vmax = 0.0, float(max(images.max(initial=0.0), recon.max(initial=0.0), 1e-6))
    fig = _new_figure(5.0, 2.5 * n)
    for i in range(n):
        ax = fig.add_subplot(n, 2, 2 * i + 1)
        _input_panel(ax, images[i], np.asarray(pred_coords)[i], stamp_size,
                     None if pred_classes is None else np.asarray(pred_classes)[i],
                     None if true_coords is None else np.asarray(true_coords)[i], vmin=vmin, vmax=vmax)
        ax.set_title("input" if i == 0 else "", fontsize=9)
        ax = fig.add_subplot(n, 2, 2 * i + 2)
        _show(ax, recon[i], vmin=vmin, vmax=vmax)
        ax.set_title("reconstruction" if i == 0 else "", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def typical_canvases(images, recon, pred_coords, stamp_size: int, scores, notes=None, pred_classes=None,
                     true_coords=None, n_typical: int = 4, n_worst: int = 4, drawing=None, path=None) -> Figure:
    """The figure of a claim: on the left ``n_typical`` canvases in data order, on the right the ``n_worst``
    with the highest ``scores`` (N,) (e.g. :func:`stampnet.metrics.canvas_failures`); each as input with
    predicted and true boxes (as :func:`reconstructions`) beside its reconstruction, captioned with its index
    and ``notes`` (N str).

    images, recon (N, H, W[, 1]); pred_coords (N, M, 2); pred_classes (N, M); true_coords (N, n_obj, 2);
    drawing (N, M) bool: the slots whose boxes are drawn (default all).
    """
    images, recon, scores = np.asarray(images), np.asarray(recon), np.asarray(scores, np.float64)
    worst = [int(i) for i in np.argsort(-scores, kind="stable")[:max(0, n_worst)]]
    typical = [i for i in range(len(scores)) if i not in worst][:max(0, n_typical)]
    groups = [(name, g) for name, g in (("typical", typical), ("worst", worst)) if g]
    nrows = max((len(g) for _, g in groups), default=1)
    fig = _new_figure(4.6 * max(1, len(groups)), 2.5 * nrows)
    vmin, vmax = 0.0, float(max(images.max(initial=0.0), recon.max(initial=0.0), 1e-6))
    pick = lambda a, i: None if a is None else np.asarray(a)[i]
    for col, (name, group) in enumerate(groups):
        for row, i in enumerate(group):
            cell = row * 2 * len(groups) + 2 * col + 1
            ax = fig.add_subplot(nrows, 2 * len(groups), cell)
            _input_panel(ax, images[i], pred_coords[i], stamp_size, pick(pred_classes, i), pick(true_coords, i),
                         pick(drawing, i), vmin=vmin, vmax=vmax)
            ax.set_xlabel(f"#{i}" + (f": {notes[i]}" if notes is not None else ""), fontsize=7)
            if row == 0:
                ax.set_title(f"{name}: input", fontsize=9)
            ax = fig.add_subplot(nrows, 2 * len(groups), cell + 1)
            _show(ax, recon[i], vmin=vmin, vmax=vmax)
            if row == 0:
                ax.set_title("reconstruction", fontsize=9)
    if not groups:
        fig.add_subplot(1, 1, 1).axis("off")
    fig.tight_layout()
    return _save(fig, path)


def crop(image, y: int, x: int, size: int):
    """The size x size patch of image (H, W[, 1]) with upper-left corner (y, x), zero-padded outside."""
    image = _2d(image)
    out = np.zeros((size, size), dtype=image.dtype)
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + size, image.shape[0]), min(x + size, image.shape[1])
    if y1 > y0 and x1 > x0:
        out[y0 - y:y1 - y, x0 - x:x1 - x] = image[y0:y1, x0:x1]
    return out


def cluster_gallery(images, coords, clusters, stamp_size: int, per_cluster: int = 8, stamps=None,
                    path=None) -> Figure:
    """One row per used cluster with up to per_cluster crops of the objects assigned to it (in data order),
    preceded by the cluster's stamp when stamps (K, S, S) is given.

    images (N, H, W[, 1]); coords (N, n, 2) upper-left of each object; clusters (N, n) predicted class
    (negative values, e.g. unmatched objects, are skipped).
    """
    images = np.asarray(images)
    coords = np.asarray(coords).reshape(len(images), -1, 2)
    clusters = np.asarray(clusters).reshape(len(images), -1)
    used = [int(c) for c in np.unique(clusters) if c >= 0]
    vmax = float(max(images.max(initial=0.0), 1e-6))  # one scale for all crops
    extra = 0 if stamps is None else 1
    ncols, nrows = per_cluster + extra, max(1, len(used))
    fig = _new_figure(1.1 * ncols, 1.2 * nrows)
    for r, c in enumerate(used):
        img_idx, obj_idx = np.nonzero(clusters == c)
        if stamps is not None:
            ax = fig.add_subplot(nrows, ncols, r * ncols + 1)
            _show(ax, np.asarray(stamps)[c])
            for side in ax.spines.values():
                side.set_edgecolor(PRED_COLOUR)
                side.set_linewidth(2)
            ax.set_title(f"stamp {c}", fontsize=7)
        for j in range(per_cluster):
            ax = fig.add_subplot(nrows, ncols, r * ncols + extra + j + 1)
            if j < len(img_idx):
                y, x = coords[img_idx[j], obj_idx[j]]
                _show(ax, crop(images[img_idx[j]], int(y), int(x), stamp_size), vmin=0.0, vmax=vmax)
            else:
                ax.axis("off")
            if j == 0:
                ax.set_ylabel(f"{c} (n={len(img_idx)})", fontsize=7)
    if not used:
        ax = fig.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, "no clusters", ha="center", va="center")
    fig.tight_layout()
    return _save(fig, path)


def prototypes_by_class(examples, prototypes: dict, class_names=None, blocks: int = 5, path=None) -> Figure:
    """Class by class, an example of the class beside each method's prototype for it — e.g. a drawing of an
    Omniglot character, the StampNet stamp and the k-means centroids whose clusters the best one-to-one
    mapping (:func:`stampnet.metrics.cluster_to_label`) gives that character. ``blocks`` classes per row.

    examples (L, h, w) one per class (or None); prototypes {method: (L, ...) image, or None where the method has
    no cluster for the class (drawn blank)}; class_names: L titles.
    """
    columns = ([("example", list(examples))] if examples is not None else []) + [
        (name, list(images)) for name, images in prototypes.items()]
    n_classes = len(columns[0][1]) if columns else 0
    width = len(columns)
    blocks = max(1, min(blocks, n_classes))
    nrows = max(1, math.ceil(n_classes / blocks))
    ncols = blocks * width
    fig = _new_figure(0.9 * ncols, 1.05 * nrows + 0.3)
    for c in range(n_classes):
        r, b = divmod(c, blocks)
        for j, (name, images) in enumerate(columns):
            ax = fig.add_subplot(nrows, ncols, r * ncols + b * width + j + 1)
            if images[c] is None:
                ax.axis("off")
            else:
                _show(ax, images[c])
            if r == 0:
                ax.set_title(name, fontsize=6)
            if j == 0 and class_names is not None:
                ax.set_ylabel(str(class_names[c])[-14:], fontsize=5)
    if not n_classes:
        fig.add_subplot(1, 1, 1).axis("off")
    fig.tight_layout(pad=0.3)
    return _save(fig, path)


def training_curves(metrics: dict, path=None) -> Figure:
    """Loss curves (every series whose name ends in 'loss', e.g. loss and val_loss) and, when present, the
    Gumbel temperature (series whose name contains 'tau'), from Sacred-style
    ``{name: {"steps": [...], "values": [...]}}``. Other series are drawn in the loss panel only when
    neither kind is present."""
    losses = {k: v for k, v in metrics.items() if k.endswith("loss")}
    taus = {k: v for k, v in metrics.items() if "tau" in k}
    if not losses and not taus:
        losses = dict(metrics)
    panels = [(name, series) for name, series in (("loss", losses), ("tau", taus)) if series]
    fig = _new_figure(5.0 * max(1, len(panels)), 3.5)
    if not panels:
        ax = fig.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, "no metrics", ha="center", va="center")
    for p, (title, series) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), p + 1)
        positive = True
        for name, data in sorted(series.items()):
            values = np.asarray(data.get("values", []), dtype=float)
            steps = np.asarray(data.get("steps", np.arange(len(values))), dtype=float)
            ax.plot(steps[:len(values)], values, label=name)
            positive &= bool(values.size == 0 or np.all(values > 0))
        if positive:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _quality_measures() -> tuple:
    from stampnet.metrics import MEASURES

    return tuple((m.key, m.title) for m in MEASURES if m.quality)


QUALITY_MEASURES = _quality_measures()  # the measures declared ``quality`` (stampnet.metrics.MEASURES)


def quality_by_epoch(rows: list[dict], path=None) -> Figure:
    """The quality measures (those declared ``quality`` in ``stampnet.metrics.MEASURES``) of a run's checkpoints
    against the training canvases seen (rows of ``stampnet.evaluate.evaluate_epochs``: epoch, training_canvases
    and the measures); the epoch is marked at every point. A measure that no row has (e.g. purity without labels) is left out."""
    fig = _new_figure(6.0, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    seen = np.array([r["training_canvases"] for r in rows], dtype=float)
    drawn = 0
    for key, label in QUALITY_MEASURES:
        values = np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=float)
        if np.isfinite(values).any():
            ax.plot(seen, values, marker="o", label=label)
            drawn += 1
    for r, x in zip(rows, seen):
        ax.annotate(str(r["epoch"]), (x, 0.0), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7,
                    color="grey")
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("training canvases (epoch × steps_per_epoch × batch_size; epochs in grey)")
    ax.set_title("quality against training")
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def save_run_figures(model, test, figures_dir: Path, history: dict | None = None, n_images: int = 6,
                     tau: float = 1e-4) -> None:
    """The figures of a training run in ``figures_dir``: the stamp grid with their usage on the first
    ``n_images`` test canvases, those inputs with predicted boxes beside their reconstructions (at τ ``tau``),
    and the training curves from ``history`` ({name: per-epoch values})."""
    import keras

    from stampnet.metrics import predict_slots
    from stampnet.model import analysis_model, set_temperature, stamps

    n = min(n_images, len(test))
    if n == 0:
        return
    decoder = model.get_layer("stamp_layer")
    set_temperature(model, tau)
    # One eager call: a handful of canvases, so no predict function is traced (a third of a second a run).
    out = {k: keras.ops.convert_to_numpy(v) for k, v in analysis_model(model)(test.images[:n], training=False).items()}
    coords, classes = predict_slots(out["stamp_probs"], out["y_probs"], out["x_probs"])
    drawn = stamps(model)  # every class a slot can choose: the stamps, or with colour choices each (stamp, colour)
    stamp_grid(drawn, usage=np.bincount(classes.ravel(), minlength=len(drawn)), path=Path(figures_dir) / "stamps.png")
    reconstructions(test.images[:n], out["reconstruction"], coords, decoder.stamp_size, pred_classes=classes,
                    true_coords=None if test.coords is None else test.coords[:n],
                    path=Path(figures_dir) / "reconstructions.png")
    if history:
        curves = {k: {"steps": list(range(1, len(v) + 1)), "values": [float(x) for x in v]} for k, v in history.items()}
        training_curves(curves, path=Path(figures_dir) / "training_curves.png")


def curves_by_canvases(curves: dict, path=None) -> Figure:
    """Training loss and τ of several runs against the training canvases seen, one line per run:
    ``{label: {"canvases": [...], "loss": [...], "tau": [...]}}`` (e.g. the 2019 run beside ``fast``)."""
    fig = _new_figure(10.0, 3.6)
    for p, key in enumerate(("loss", "tau")):
        ax = fig.add_subplot(1, 2, p + 1)
        for label, c in curves.items():
            ax.plot(np.asarray(c["canvases"], float) / 1e6, c[key], label=label)
        ax.set_yscale("log")
        ax.set_xlabel("training canvases (millions)")
        ax.set_title("training loss (sum of squared errors per canvas)" if key == "loss" else "Gumbel temperature τ")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def offset_clouds(clouds: dict, title: str = "", path=None) -> Figure:
    """Offsets (P, 2) (dy, dx) in pixels from the true objects, one panel per ``{panel title: offsets}``, on shared
    axes with y down as on the canvas (``scripts/stamp_offsets.py``: the slot's corner, the drawn ink's centre)."""
    fig = _new_figure(4.0 * len(clouds), 4.0)
    axes = fig.subplots(1, len(clouds), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (name, points) in zip(axes, clouds.items()):
        points = np.asarray(points, float)
        ax.scatter(points[:, 1], points[:, 0], s=4, alpha=0.3)
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("dx (px)")
    axes[0].set_ylabel("dy (px)")
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def segmentations(images, true_seg, pred_seg, n_images: int = 8, path=None) -> Figure:
    """Inputs over their true segmentation and the one the slots draw (:mod:`stampnet.masks`): background
    black, each object or slot its own colour (the colours of the two rows are not matched)."""
    from matplotlib.colors import ListedColormap

    n = min(n_images, len(images))
    colours = ListedColormap(["black", "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
                              "#f032e6", "#bfef45", "#fabed4", "#469990"])
    fig = _new_figure(1.6 * n, 5.0)
    axes = fig.subplots(3, n, squeeze=False)
    for j in range(n):
        _show(axes[0, j], images[j])
        for row, seg in ((1, true_seg), (2, pred_seg)):
            axes[row, j].imshow(np.asarray(seg[j]) % colours.N, cmap=colours, vmin=0, vmax=colours.N - 1,
                                interpolation="nearest")
            axes[row, j].set_xticks([])
            axes[row, j].set_yticks([])
    for row, name in enumerate(("input", "true masks", "stamps' masks")):
        axes[row, 0].set_ylabel(name)
    fig.tight_layout()
    return _save(fig, path)


def save_claim_figures(result: dict, folder: Path, matching: str = "greedy") -> list[Path]:
    """Figures of a measured run in ``folder``: ``typical_canvases.png`` — test canvases in data order and the
    worst by :func:`stampnet.metrics.canvas_failures` (what the run's measures of the README's claims look at),
    inputs with true and predicted boxes (not those of slots that draw nothing) beside reconstructions; with
    k-means rows (Omniglot) also ``stamps_vs_kmeans.png`` — per character a test drawing, its stamp and the
    k-means centroids (best one-to-one mapping of clusters to characters)."""
    from stampnet.metrics import canvas_failures, cluster_to_label, drawing_slots, match_slots, predict_slots

    test, out, spec = result["test"], result["outputs"], result["run"].spec
    stamp_size = spec.model.stamp_size
    labels = test.labels if spec.data.carries.labels else None
    pred_coords, classes = predict_slots(out["stamp_probs"], out["y_probs"], out["x_probs"])
    scores, notes = canvas_failures(test.images, out["reconstruction"], out["stamp_probs"], out["y_probs"],
                                    out["x_probs"], labels, test.coords, stamp_size=stamp_size,
                                    matching=matching, stamps=out["stamps"], intensities=test.intensities)
    drawing = None if test.coords is None else drawing_slots(test.images, test.coords, out["stamps"],
                                                             out["stamp_probs"])[2]   # (N, M) or None
    written = [Path(folder) / "typical_canvases.png"]
    typical_canvases(test.images, out["reconstruction"], pred_coords, stamp_size, scores, notes,
                             classes, test.coords, drawing=drawing, path=written[0])
    if test.masks is not None:
        from stampnet.masks import predicted_segmentation

        n = min(8, len(test))
        written.append(Path(folder) / "segmentation.png")
        segmentations(test.images[:n], test.masks[:n],
                      predicted_segmentation(out["stamps"], classes[:n], pred_coords[:n], test.images.shape[1:3]),
                      path=written[-1])
    if "kmeans_clusterings" in result and test.labels is not None and test.coords is not None:
        slot = np.maximum(match_slots(test.coords[:, :1], pred_coords, matching)[:, 0], 0)
        y, stamp_of = test.labels[:, 0], classes[np.arange(len(test)), slot]
        chars = np.unique(y)
        first = {c: int(np.flatnonzero(y == c)[0]) for c in chars}
        examples = [crop(test.images[first[c]], *test.coords[first[c], 0], stamp_size) for c in chars]

        def by_char(prototypes, truth, clusters):
            char_of = cluster_to_label(truth, clusters)
            proto = {char: prototypes[cluster] for cluster, char in char_of.items()}
            return [proto.get(c) for c in chars]

        columns = {"StampNet": by_char(out["stamps"], y, stamp_of)}
        for method, (centroids, truth, clusters) in result["kmeans_clusterings"].items():
            columns["k-means\n" + method.split(", ")[-1].split()[0]] = by_char(centroids, truth, clusters)  # centred/raw
        written.append(Path(folder) / "stamps_vs_kmeans.png")
        prototypes_by_class(examples, columns, [str(c) for c in chars], path=written[-1])
    return written
