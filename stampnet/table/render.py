"""The Table's files from the results records: table.md, table.csv, table.png and README's results block
(``<!-- results: RECIPE -->``, rendered by ``stampnet.render``)."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Optional

from stampnet import ConfigError
from stampnet.table import ALL_ROWS, BENCHMARK_MEASURES, BENCHMARKS, BY_NAME, MEASURES, ROWS, TABLE_MEASURES, columns

KEYS = tuple(dict.fromkeys(TABLE_MEASURES + BENCHMARK_MEASURES))   # every measure a row of ours has a column for
INK = ("cor_loc_ink", "iou_ink", "stamp_offset")   # do boxes and objects agree: beside the paper's slot square

FULL_TEST = 10_000  # the test canvases of the 2019 test splits: README marks rows measured on another number


def fmt(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def duration(seconds) -> str:
    if not seconds:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _mean_sd(values: list) -> tuple[Optional[float], Optional[float]]:
    import numpy as np

    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return float(np.mean(values)), (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def _ms(line: dict, key: str) -> str:
    """A row's mean of ``key`` over its seeds, with the standard deviation where there are several."""
    sd = line[f"{key}_sd"]
    return fmt(line[key]) + (f" ± {sd:.4f}" if sd is not None else "")


NUMBER, COUNT, TEXT = "a number or null", "an integer >= 0", "a string or null"
# What the Table, its CSV and README's block read of a results file (dotted keys; "?" marks an optional one).
OURS = {"row": "row", "test_canvases": COUNT, "seed_index?": COUNT, "data?": TEXT,
        **{f"measures.{key}?": NUMBER for key in KEYS + INK}, "measures.nmi?": NUMBER, "measures.acc?": NUMBER,
        "kmeans": "an object", **{f"kmeans.{kind}.{key}?": NUMBER for kind in ("objects", "canvases")
                                  for key in ("nmi", "acc", "purity")},
        "provenance.training_canvases": COUNT, "provenance.train_wall_s": NUMBER,
        "provenance.canvases_per_s": NUMBER, "provenance.cpu": TEXT}
WEIGHTS_2019 = {"row": "row", "test_canvases": COUNT, **{f"measures.{key}": NUMBER for key, _ in MEASURES}}
FILE_NAME = re.compile(r"([a-z0-9_-]+?)(?:-seed([1-9][0-9]*))?\.json")   # <row>[-seed<N>].json


def _is(value, kind: str) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return {NUMBER: value is None or number, COUNT: number and isinstance(value, int) and value >= 0,
            TEXT: value is None or isinstance(value, str), "row": isinstance(value, str) and value in BY_NAME,
            "an object": isinstance(value, dict)}[kind]


def read_record(path: Path, schema: dict = OURS) -> dict:
    """A results file, checked against ``schema`` (:data:`OURS`, or :data:`WEIGHTS_2019` for results/2019/):
    one ConfigError naming the file and its first problem (unreadable, not JSON, a key missing or mistyped)."""
    from stampnet.config import load_json

    fix = (f"restore it (git checkout -- {path}) or delete it and run `python -m stampnet.table` for its row "
           "again")
    record = load_json(path, fix)
    if not isinstance(record, dict):
        raise ConfigError(f"{path} holds a JSON {type(record).__name__}, not a results record; {fix}")
    for dotted, kind in schema.items():
        node, keys = record, dotted.rstrip("?").split(".")
        for depth, key in enumerate(keys):
            if not isinstance(node, dict):
                raise ConfigError(f"{path}: {'.'.join(keys[:depth])} must be an object, got {str(node)[:40]!r}; {fix}")
            if key not in node:
                if dotted.endswith("?"):
                    break
                raise ConfigError(f"{path} lacks {dotted} (a results record of the Table has it); {fix}")
            node = node[key]
        else:
            if not _is(node, kind):
                want = f"one of the Table's rows ({', '.join(BY_NAME)})" if kind == "row" else kind
                raise ConfigError(f"{path}: {dotted.rstrip('?')} must be {want}, got {str(node)[:40]!r}; {fix}")
    return record


def results_files(results: Path) -> list[Path]:
    """The results files of results/<recipe>/: its ``*.json`` but hidden files (a writer's temporary ones)."""
    return sorted(results.glob("[!.]*.json"))


def load_records(results: Path) -> dict[str, list[dict]]:
    """{row: [records of its seeds]} from results/<recipe>/<row>[-seed<N>].json, in the Table's row order; every
    file checked (:func:`read_record`), one ConfigError for the first that is not a results file of its row."""
    found = {}
    for path in results_files(results):
        name = FILE_NAME.fullmatch(path.name)
        if not name or name[1] not in BY_NAME:
            raise ConfigError(f"{path} is not named as a results file (<row>[-seed<N>].json, rows "
                              f"{', '.join(BY_NAME)}); move it out of {results}")
        record = read_record(path)
        if record["row"] != name[1] or record.get("seed_index", 0) != int(name[2] or 0):
            raise ConfigError(f"{path} holds the results of {record['row']} seed index "
                              f"{record.get('seed_index', 0)}, not those its name says; rename or delete it")
        found.setdefault(record["row"], []).append(record)
    return {row.name: found[row.name] for row in ALL_ROWS if row.name in found}


def read_pretrained(results_root: Path) -> dict[str, dict]:
    """The 2019 weights' records in ``<results>/2019/`` by row, checked (:data:`WEIGHTS_2019`); {} where a row
    has none."""
    files = {row.name: results_root / "2019" / f"{row.name}.json" for row in ROWS}
    return {name: read_record(path, WEIGHTS_2019) if path.exists() else {} for name, path in files.items()}


def table_rows(records: dict[str, list[dict]], pretrained: dict[str, dict]) -> list[dict]:
    """One flat dict per row: ours (mean over seeds), the paper, the 2019 weights, k-means, cost."""
    out = []
    for name, recs in records.items():
        row = BY_NAME[name]
        line = {"row": name, "title": row.title, "seeds": len(recs)}
        for key in KEYS:
            paper = row.paper.get(key)
            mean, sd = _mean_sd([r["measures"].get(key) for r in recs])
            line.update({key: mean, f"{key}_sd": sd, f"paper_{key}": paper,
                         f"delta_{key}": None if mean is None or paper is None else mean - paper,
                         f"weights2019_{key}": (pretrained.get(name) or {}).get("measures", {}).get(key)})
        for key in ("nmi", "acc", *INK):
            line[key] = _mean_sd([r["measures"].get(key) for r in recs])[0]
        for kind in ("objects", "canvases"):
            for key in ("nmi", "acc", "purity"):
                line[f"kmeans_{kind}_{key}"] = _mean_sd([r["kmeans"].get(kind, {}).get(key) for r in recs])[0]
        met = [row.meets(r["measures"]) for r in recs]
        line["meets_target"] = None if None in met else all(met)
        to_target = [(r.get("curve") or {}).get("canvases_to_target") for r in recs if r.get("curve")]
        line["canvases_to_target"] = (None if not to_target or None in to_target else max(to_target))
        line["curve_measured"] = bool(to_target)
        prov = [r["provenance"] for r in recs]
        line.update(training_canvases=prov[0]["training_canvases"],
                    train_wall_s=_mean_sd([p["train_wall_s"] for p in prov])[0],
                    canvases_per_s=_mean_sd([p["canvases_per_s"] for p in prov])[0],
                    test_canvases=recs[0]["test_canvases"], cpu=prov[0]["cpu"], data=recs[0].get("data"))
        out.append(line)
    return out


def markdown(lines: list[dict], recipe: str) -> str:
    """table.md: the paper's Table, then the multi-object benchmarks (where measured)."""
    table = [line for line in lines if line["row"] in {row.name for row in ROWS}]
    bench = [line for line in lines if line["row"] in {row.name for row in BENCHMARKS}]
    return (paper_table(table, recipe) if table else "") + ("\n" + benchmark_table(bench) if bench else "")


def meets_cell(line: dict) -> str:
    """"yes" / "**no**" / "—": whether the row meets its targets."""
    return {True: "yes", False: "**no**", None: "—"}[line["meets_target"]]


def target_cells(line: dict) -> str:
    """:func:`meets_cell` and the training canvases at which the row first met its targets."""
    meets = meets_cell(line)
    if not line["curve_measured"]:
        first = "—"
    else:
        first = "never" if line["canvases_to_target"] is None else f"{line['canvases_to_target']:,}"
    return f"{meets} | {first}"


def benchmark_table(lines: list[dict]) -> str:
    """The multi-object benchmarks: ours (ARI-FG, mIoU, purity) beside what other methods' papers report."""
    titles = " / ".join(t for _, t in columns(BENCHMARK_MEASURES))
    head = [f"| benchmark | data | seeds | ours {titles} | reported ARI-FG (official files) | training canvases | "
            "training time | test canvases | meets target | canvases to target |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    body = []
    for line in lines:
        row = BY_NAME[line["row"]]
        ours = " / ".join(_ms(line, k) for k in BENCHMARK_MEASURES)
        reported = "; ".join(f"{r.method} {r.value:.3f}" + (f" ± {r.sd:.3f}" if r.sd is not None else "")
                             for r in row.reported) or "—"
        body.append(f"| {row.title} | {line['data'] or '—'} | {line['seeds']} | {ours} | {reported} | "
                    f"{line['training_canvases']:,} | {duration(line['train_wall_s'])} | {line['test_canvases']:,} | "
                    f"{target_cells(line)} |")
    sources = sorted({r.source for row in BENCHMARKS for r in row.reported})
    notes = ("\nARI-FG: the adjusted Rand index of the slots' masks over the true objects' pixels (DeepMind's "
             "`segmentation_metrics.py`), on the test canvases named; each pixel belongs to the slot that draws "
             "the most ink there. Rows on a look-alike set are not comparable number for number with the reported "
             f"ones, which are on the official files (sources: {'; '.join(sources)}).\n")
    return "\n".join(head + body) + "\n" + notes


def paper_table(lines: list[dict], recipe: str) -> str:
    head = ("| row | seeds | ours CorLoc / IoU / purity | paper | 2019 weights here | ours − paper | "
            "ours ink-centred CorLoc / IoU, stamp offset (px) | ours NMI / acc | "
            "k-means on true crops NMI / acc / purity | k-means on canvases NMI / acc / purity | training canvases | "
            "training time | test canvases | meets target | canvases to target |")
    rule = "|" + "---|" * (head.count("|") - 1)
    body = []
    for line in lines:
        ours = " / ".join(_ms(line, k) for k, _ in MEASURES)
        ink = ("—" if line["cor_loc_ink"] is None else
               f"{fmt(line['cor_loc_ink'])} / {fmt(line['iou_ink'])}, {fmt(line['stamp_offset'], 2)}")
        paper = " / ".join(fmt(line[f"paper_{k}"]) for k, _ in MEASURES)
        w2019 = " / ".join(fmt(line[f"weights2019_{k}"]) for k, _ in MEASURES) \
            if any(line[f"weights2019_{k}"] is not None for k, _ in MEASURES) else "—"
        delta = " / ".join("—" if line[f"delta_{k}"] is None else f"{line[f'delta_{k}']:+.4f}" for k, _ in MEASURES)
        kmo = " / ".join(fmt(line[f"kmeans_objects_{k}"]) for k in ("nmi", "acc", "purity"))
        kmc = " / ".join(fmt(line[f"kmeans_canvases_{k}"]) for k in ("nmi", "acc", "purity"))
        title = line["title"] + (f" ({line['data']})" if line["data"] else "")
        body.append(f"| {title} | {line['seeds']} | {ours} | {paper} | {w2019} | {delta} | "
                    f"{ink} | {fmt(line['nmi'])} / {fmt(line['acc'])} | {kmo} | {kmc} | {line['training_canvases']:,} | "
                    f"{duration(line['train_wall_s'])} | {line['test_canvases']:,} | {target_cells(line)} |")
    cpus = sorted({str(line["cpu"]) for line in lines})
    notes = (f"\nRecipe `{recipe}`. Measured as `python -m stampnet.evaluate` does: τ = 1e-4, Gumbel noise drawn "
             "(seed 0), greedy matching; mean ± standard deviation over seeds where there are several. k-means "
             "(scikit-learn, n_init = 10, the row's K) is fit and scored on the test set: on crops at the true "
             "positions (it is given the localisation: an upper reference) and on the raw canvases (every object "
             "of a canvas gets the canvas's cluster). Training time is the wall time of the run's training "
             f"on {', '.join(cpus)}. Written by `python -m stampnet.table --recipe {recipe}` from "
             "the JSON files beside this one.\n")
    return "\n".join([head, rule, *body]) + "\n" + notes


CSV_COLUMNS = ("row", "seeds", *(f"{k}{s}" for k in KEYS for s in ("", "_sd")), "nmi", "acc",
               *(f"paper_{k}" for k in TABLE_MEASURES), *(f"weights2019_{k}" for k in TABLE_MEASURES),
               *(f"delta_{k}" for k in TABLE_MEASURES), "kmeans_objects_nmi",
               "kmeans_objects_acc", "kmeans_objects_purity", "kmeans_canvases_nmi", "kmeans_canvases_acc",
               "kmeans_canvases_purity", "training_canvases", "train_wall_s", "canvases_per_s", "test_canvases",
               "cpu", "data", "meets_target", "canvases_to_target", *INK)


def table_csv(lines: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for line in lines:
        writer.writerow({k: ("" if line.get(k) is None else line[k]) for k in CSV_COLUMNS})
    return out.getvalue()


def table_figure(lines: list[dict], path: Path) -> None:
    """CorLoc, IoU and purity per row: ours (with the spread over seeds) beside the paper."""
    import numpy as np

    from stampnet.figures import _new_figure, _save

    lines = [line for line in lines if line["row"] in {row.name for row in ROWS}]
    fig = _new_figure(3.2 * len(MEASURES), 3.4)
    x = np.arange(len(lines))
    for i, (key, label) in enumerate(MEASURES):
        ax = fig.add_subplot(1, len(MEASURES), i + 1)
        ours = np.array([np.nan if line[key] is None else line[key] for line in lines], dtype=float)
        sd = np.array([line[f"{key}_sd"] or 0.0 for line in lines], dtype=float)
        ax.bar(x - 0.2, [line[f"paper_{key}"] for line in lines], 0.4, label="paper", color="#bbbbbb")
        ax.bar(x + 0.2, ours, 0.4, yerr=sd, label="ours", color="#1f77b4")
        ax.set_xticks(x, [line["title"] for line in lines], rotation=60, ha="right", fontsize=7)
        ax.set_ylim(0.0, 1.05)
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    _save(fig, path)


def write_table(results: Path, recipe: str, pretrained: dict) -> list[Path]:
    from stampnet.cli import write_text_atomic

    lines = table_rows(load_records(results), pretrained)
    if not lines:
        return []
    written = [write_text_atomic(results / "table.md", markdown(lines, recipe)),
               write_text_atomic(results / "table.csv", table_csv(lines))]
    table_figure(lines, results / "table.png")
    written.append(results / "table.png")
    from stampnet.figures import quality_by_epoch

    for name, recs in load_records(results).items():   # quality against canvases, one figure per row
        for rec in recs:
            if rec.get("curve"):
                label = name + (f"-seed{rec['seed_index']}" if rec.get("seed_index") else "")
                quality_by_epoch(rec["curve"]["checkpoints"], path=results / f"{label}-curve.png")
                written.append(results / f"{label}-curve.png")
    return written


def measured_lines(block: str) -> list[str]:
    """The measured lines of a README results block, as "<row title>: <what>" (2019 weights, trained here)."""
    found, title = [], None
    for line in block.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3:
            continue
        title = cells[0] or title
        what = next((w for w in ("2019 weights", "trained here") if cells[1].startswith(w)), None)
        if what and title and cells[2] != "not yet":
            found.append(f"{title}: {what}")
    return found


def readme_block(results_root: Path, recipe: str, present: str = "") -> str:
    """The README's results block: per row the paper, the 2019 weights measured here and ours. A ConfigError,
    rather than a block that drops them, when ``present`` (the block now) has measured lines that the files of
    ``results_root`` lack (a mistyped --results)."""
    pretrained = read_pretrained(results_root)
    ours = {line["row"]: line for line in table_rows(load_records(results_root / recipe), pretrained)}
    lines = ["| experiment | measured on | CorLoc | IoU | purity |", "|---|---|---|---|---|"]
    for row in ROWS:
        lines.append(f"| {row.title} | paper | " + " | ".join(fmt(row.paper.get(k)) for k, _ in MEASURES) + " |")
        old = pretrained[row.name]
        if "measures" in old:
            n = f", {old['test_canvases']:,} test canvases" if old["test_canvases"] != FULL_TEST else ""
            lines.append(f"| | 2019 weights, evaluated here{n} | "
                         + " | ".join(fmt(old["measures"].get(k)) for k, _ in MEASURES) + " |")
        line = ours.get(row.name)
        if line:
            seeds = f", {line['seeds']} seeds" if line["seeds"] > 1 else ""
            n = f", {line['test_canvases']:,} test canvases" if line["test_canvases"] != FULL_TEST else ""
            data = f"; {line['data']}" if line["data"] else ""
            lines.append(f"| | trained here, `{recipe}` ({line['training_canvases'] / 1e6:.2f} M canvases{seeds}{n}"
                         f"{data}) | " + " | ".join(_ms(line, k) for k, _ in MEASURES) + " |")
        else:
            lines.append(f"| | trained here, `{recipe}` | not yet | | |")
    block = "\n".join(lines)
    lost = [line for line in measured_lines(present) if line not in measured_lines(block)]
    if lost:
        raise ConfigError(f"rendering from {results_root} would drop {len(lost)} measured line(s) ("
                          f"{'; '.join(lost)}): their results files are not there; give --results the folder "
                          "that holds them (or delete those lines of the page first to drop them on purpose)")
    return block


def benchmarks_block(results_root: Path, recipe: str) -> str:
    """The README's benchmarks block: per multi-object benchmark ours (ARI-FG, mIoU, purity) and, beside it,
    what other methods report on the official files."""
    ours = {line["row"]: line for line in table_rows(load_records(results_root / recipe), {})}
    titles = " | ".join(t for _, t in columns(BENCHMARK_MEASURES))
    lines = [f"| benchmark | measured on | {titles} |", "|---|---|" + "---|" * len(BENCHMARK_MEASURES)]
    for row in BENCHMARKS:
        first = True
        for r in row.reported:
            cells = [f"{r.value:.3f} ± {r.sd:.3f}" if k == r.measure else "" for k in BENCHMARK_MEASURES]
            lines.append(f"| {row.title if first else ''} | {r.method}, official files ({r.source}) | "
                         + " | ".join(cells) + " |")
            first = False
        line = ours.get(row.name)
        head = row.title if first else ""
        if line:
            seeds = f", {line['seeds']} seeds" if line["seeds"] > 1 else ""
            lines.append(f"| {head} | StampNet trained here, `{recipe}` ({line['training_canvases'] / 1e6:.2f} M "
                         f"canvases{seeds}; {line['data']}; {line['test_canvases']:,} test canvases) | "
                         + " | ".join(_ms(line, k) for k in BENCHMARK_MEASURES) + " |")
        else:
            lines.append(f"| {head} | StampNet trained here, `{recipe}` | not yet |" + " |" * (len(BENCHMARK_MEASURES) - 1))
    return "\n".join(lines)


def change_block(results_root: Path, arg: str) -> str:
    """``<!-- change: BEFORE..AFTER -->``: per row of the paper's Table, what the recipe of ``results/BEFORE/``
    measured beside what ``results/AFTER/`` measures (canvases, CorLoc / IoU / purity, the stamps' offset, the
    targets), so a page that says what changed in a recipe shows the effect from the records."""
    before_name, sep, after_name = arg.partition("..")
    if not sep or not before_name or not after_name:
        raise ConfigError(f"a change block names two recipes' results folders as BEFORE..AFTER, not {arg!r}")
    sides = [{line["row"]: line for line in table_rows(load_records(results_root / name), {})}
             for name in (before_name, after_name)]
    titles = " / ".join(t for _, t in MEASURES)

    def cells(line: Optional[dict]) -> str:
        if not line:
            return "not yet | | | |"
        seeds = f" ({line['seeds']} seeds)" if line["seeds"] > 1 else ""
        return (f"{line['training_canvases'] / 1e6:.2f} M{seeds} | " + " / ".join(_ms(line, k) for k, _ in MEASURES)
                + f" | {fmt(line['stamp_offset'], 2)} | {meets_cell(line)} |")

    lines = [f"| row | `{before_name}`: canvases | {titles} | stamp offset (px) | meets target | "
             f"`{after_name}`: canvases | {titles} | stamp offset (px) | meets target |", "|---" * 9 + "|"]
    for row in ROWS:
        if row.name in sides[0] or row.name in sides[1]:
            lines.append(f"| {row.title} | {cells(sides[0].get(row.name))} {cells(sides[1].get(row.name))}")
    return "\n".join(lines)
