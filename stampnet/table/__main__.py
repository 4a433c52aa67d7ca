"""``python -m stampnet.table``: the command line (options in ``--help``; what it does in the package's
docstring)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional

from stampnet import ConfigError
from stampnet import table
from stampnet.table import ALL_ROWS, BENCHMARKS, BY_NAME, ROWS, Job, Row, log, recipe_folder
from stampnet.table.render import load_records, read_pretrained, write_table
from stampnet.table.run import measure_2019, run_cluster, run_local


def parse_rows(text: str) -> list[Row]:
    """Row names, comma-separated: a row, a group of rows by its first part (``multi_dsprites``: every
    variant), ``all`` (the paper's Table) or ``benchmarks`` (the multi-object benchmarks)."""
    if text == "all":
        return list(ROWS)
    if text == "benchmarks":
        return list(BENCHMARKS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    group = lambda n: [row for row in ALL_ROWS if row.name == n or row.name.startswith(n + "-")]
    unknown = [n for n in names if not group(n)]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown row(s) {', '.join(unknown) or repr(text)}; choose from "
                                         f"{', '.join(BY_NAME)} (comma-separated), all or benchmarks")
    chosen = {row.name: row for n in names for row in group(n)}
    return list(chosen.values())


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds are indices >= 0 separated by commas (e.g. 0,1,2), got {text!r}")
    return seeds


def parse_recipe(text: str) -> Optional[str]:
    return None if text in ("none", "2019") else text


def recipes() -> list[str]:
    """The named configs every experiment takes (``stampnet.experiments.NAMED_CONFIGS``)."""
    from stampnet.experiments import NAMED_CONFIGS

    return list(NAMED_CONFIGS)


def check_writable(folder: Path, option: str) -> None:
    """Make ``folder`` and write a file into it (removed again), so that a folder the table cannot write stops it
    before anything is trained; one ConfigError naming ``option``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as err:
        raise ConfigError(f"cannot write to {folder} ({err.strerror or type(err).__name__}); give {option} a "
                          "folder you can write") from None


def main(argv=None) -> int:
    from stampnet import cli

    parser = cli.ArgumentParser(prog="python -m stampnet.table", description=table.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=parse_recipe, default="fast",
                        help="named config of every row: fast (default), cpu, quick (a smoke run), or none for "
                             "the 2019 schedule")
    parser.add_argument("--rows", type=parse_rows, default=list(ROWS), metavar="R1,R2|all",
                        help=f"rows to run (default all, the paper's Table; benchmarks: the multi-object ones; "
                             f"rows: {', '.join(BY_NAME)})")
    parser.add_argument("--no-curve", dest="curve", action="store_false",
                        help="measure only the final weights, not every checkpoint (the canvases-to-target column "
                             "then stays empty)")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="a folder with the official multi-object files (tetrominoes_train.tfrecords, "
                             "multi_dsprites_<variant>.tfrecords): the benchmark rows train and measure on them "
                             "instead of look-alike sets")
    parser.add_argument("--seeds", type=parse_seeds, default=[0], metavar="0,1,2",
                        help="seed indices (0: the script's seed; N: that seed + N); default 0")
    parser.add_argument("--runs", type=Path, default=Path(os.environ.get("STAMPNET_RUNS", "runs")),
                        help="root of the run folders (default $STAMPNET_RUNS or runs)")
    parser.add_argument("--results", type=Path, default=Path("results"),
                        help="where results/<recipe>/ goes (default results/ in the current folder)")
    parser.add_argument("--root", type=Path, default=Path("."), metavar="DIR",
                        help="the folder whose README.md and docs/*.md --render rewrites (default the current "
                             "folder; a folder without README.md is left alone when training)")
    parser.add_argument("--mnist", help="mnist.npz or IDX folder for the MNIST rows and the CT-MNIST files "
                                        "(default: keras.datasets' download and cache)")
    parser.add_argument("--limit", type=cli.positive_int, help="measure only the first N test canvases")
    parser.add_argument("--force", action="store_true", help="train and measure again even where a finished "
                                                             "run or results file exists")
    parser.add_argument("--no-2019", dest="with_2019", action="store_false",
                        help="leave out the column of the authors' weights")
    parser.add_argument("--only-2019", action="store_true",
                        help="only measure the authors' weights of the rows (results/2019/); train nothing")
    parser.add_argument("--with", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="more Sacred overrides for every new run (e.g. run_parameters.epochs=2)")
    parser.add_argument("--cluster", metavar="local|auto|ADDRESS",
                        help="run the rows × seeds as Ray tasks: on a Ray started here (local), the running "
                             "cluster (auto) or the one at ADDRESS; needs requirements-cluster.txt")
    parser.add_argument("--render", action="store_true",
                        help="train nothing: write results/<recipe>/table.* from the results files and rewrite "
                             "every rendered block of README.md and docs/*.md (the README's results, the records "
                             "of results/docs/ and results/bench/)")
    args = parser.parse_args(argv)
    if args.recipe is not None and args.recipe not in recipes():
        parser.error(f"argument --recipe: unknown named config {args.recipe!r}; choose from "
                     f"{', '.join(recipes())} or none")
    if args.mnist and not Path(args.mnist).exists():
        parser.error(f"argument --mnist: {args.mnist!r} does not exist; give an mnist.npz or a folder of IDX files")
    recipe = recipe_folder(args.recipe)
    args.results = args.results.resolve()  # the same folder for trainings and Ray workers
    results = args.results / recipe
    pages = (args.root / "README.md").is_file()  # the rendered pages are there
    if args.render:
        from stampnet import render

        if not pages:
            return cli.fail(f"--render: no README.md in {args.root.resolve()}; run it in the folder that holds "
                            "README.md and docs/, or give --root that folder")
        try:  # every file read and every page rendered before anything is written
            pretrained, records = read_pretrained(args.results), load_records(results)
            changed = render.rendered_documents(args.root, args.results)
            if records:
                check_writable(results, "--results")
        except ConfigError as err:
            return cli.fail(str(err))
        for path in write_table(results, recipe, pretrained):
            log(f"wrote {path}")
        for path in render.write_documents(changed):
            log(f"rewrote {path}")
        if not changed:
            log("README.md and docs/*.md already up to date")
        return 0
    mnist = str(Path(args.mnist).resolve()) if args.mnist else None
    runs = args.runs.resolve() / recipe
    if args.data is not None and not args.data.is_dir():
        parser.error(f"--data {args.data} is not a folder; give the folder that holds the official files")
    jobs = [Job(row, s, args.recipe, runs / f"seed{s}" if s else runs, results, tuple(args.overrides), mnist,
                args.limit, args.force, args.data, args.curve) for row in args.rows for s in args.seeds]
    log(f"{len(jobs)} row(s) × seed(s) with recipe {recipe}; runs in {runs}, results in {results}")
    jobs = [] if args.only_2019 else jobs
    try:  # what the table reads and writes, checked before it trains (README's markers for the next --render)
        from stampnet import render

        if pages:
            render.check_documents(args.root)
        check_writable(results, "--results")
        if args.with_2019 or args.only_2019:
            check_writable(args.results / "2019", "--results")
        if jobs:
            check_writable(runs, "--runs (or STAMPNET_RUNS)")
        load_records(results), read_pretrained(args.results)
        done = run_cluster(jobs, args.cluster) if args.cluster and jobs else run_local(jobs)
    except ConfigError as err:
        return cli.fail(str(err))
    failed, pending = [], []
    for job, record, error in done:
        if error is not None:
            print(f"error: {job.label}: {error}", file=sys.stderr, flush=True)
            failed.append(job.label)
        elif record is None:
            pending.append(job.label)
    try:
        pretrained = read_pretrained(args.results)
        for row in args.rows if args.with_2019 or args.only_2019 else ():
            try:
                pretrained[row.name] = measure_2019(row, args.results / "2019", mnist, args.limit)
            except ConfigError as err:
                print(f"error: 2019 weights of {row.name}: {err}", file=sys.stderr, flush=True)
        for path in write_table(results, recipe, pretrained):
            log(f"wrote {path}")
    except ConfigError as err:  # a results file changed by hand while the table ran
        return cli.fail(str(err))
    if pending:
        log(f"still training elsewhere: {', '.join(pending)}")
    if failed:
        return cli.fail(f"{len(failed)} row(s) did not finish: {', '.join(failed)}; do what the error line of "
                        "each says above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
