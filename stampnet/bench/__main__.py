"""``python -m stampnet.bench``: the command line (see the package's docstring)."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

import stampnet.bench  # noqa: E402  (stampnet first: quiets TensorFlow's start-up without a GPU)
from stampnet import cli  # noqa: E402
from stampnet.bench.report import _jsonable, table  # noqa: E402
from stampnet.bench.run import MODES, run  # noqa: E402
from stampnet.bench.sections import SECTIONS  # noqa: E402


def main(argv=None) -> int:
    parser = cli.ArgumentParser(prog="python -m stampnet.bench", description=stampnet.bench.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps: under 3 minutes on 2 CPU cores")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # test suite smoke run
    parser.add_argument("--json", action="store_true", help="end stdout with one line of JSON")
    parser.add_argument("--mnist", metavar="PATH", help="MNIST for the generation measure (mnist.npz or IDX "
                        "folder); default: the Keras cache if present, else synthetic digits")
    parser.add_argument("--batch", type=cli.positive_int, help="separable batch (default 64, the experiment's)")
    parser.add_argument("--conv-batch", type=cli.positive_int, help="conv batch (default 4; --quick 2)")
    parser.add_argument("--save", metavar="PATH", type=cli.writable_file,
                        help="also write the JSON to PATH, rewritten after every "
                        "section (what was measured survives a timeout)")
    parser.add_argument("--only", help="comma-separated sections after training: pipeline,jit,mixed,inference "
                        "(default all; '' for training alone)")
    parser.add_argument("--backends", help="comma-separated Keras backends (tensorflow,jax,torch): the benchmark "
                        "once per backend, each in its own process one after the other, and their numbers side by "
                        "side; the other options apply to each")
    parser.add_argument("--compare", metavar="REV",
                        help="instead: training canvases/s of this tree against git revision REV, side by side "
                             "(a short fast Simple Shapes-2 training in each, alternating; stampnet/bench/compare.py)")
    parser.add_argument("--rounds", type=cli.positive_int, default=3, help="rounds of --compare (default 3)")
    args = parser.parse_args(argv)
    if args.compare:
        from stampnet.bench.compare import main as compare_main

        return compare_main(args.compare, args.rounds, args.save, args.json)
    if args.mnist is not None and not os.path.exists(args.mnist):
        parser.error(f"argument --mnist: {args.mnist!r} does not exist; give an mnist.npz or a folder of the IDX "
                     "files, or leave --mnist out")
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    if args.batch:
        MODES[mode] = {**MODES[mode], "batch": args.batch, "jit_batch": min(MODES[mode]["jit_batch"], args.batch)}
    if args.conv_batch:
        MODES[mode] = {**MODES[mode], "conv_batch": args.conv_batch}
    sections = tuple(s for s in args.only.split(",") if s) if args.only is not None else None
    unknown = set(sections or ()) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from pipeline, jit, mixed, inference")
    given = list(sys.argv[1:] if argv is None else argv)
    command = shlex.join(["python", "-m", "stampnet.bench", *given])
    if args.backends:
        return compare_backends(args.backends.split(","), given, args)
    results = run(mode, args.mnist, sections, save=args.save, command=command)
    print(table(results))
    for name, err in results.get("errors", {}).items():
        print(f"section {name} failed: {err}")
    if args.json:
        print(json.dumps(_jsonable(results)))
    return 1 if results.get("errors") else 0


def compare_backends(backends: list[str], given: list[str], args) -> int:
    """``--backends``: run this command once per backend (KERAS_BACKEND) in a subprocess, then one table."""
    import subprocess
    import tempfile
    from pathlib import Path

    from stampnet.bench.report import compare_table

    forwarded, skip = [], False
    for arg in given:  # the command without --backends (and --json/--save, which this process handles)
        if skip:
            skip = False
        elif arg in ("--backends", "--save"):
            skip = True
        elif not arg.startswith(("--backends=", "--save=")) and arg != "--json":
            forwarded.append(arg)
    results, failed = {}, False
    with tempfile.TemporaryDirectory() as tmp:
        for name in backends:
            save = Path(tmp) / f"{name}.json"
            print(f"== {name}", file=sys.stderr, flush=True)
            done = subprocess.run([sys.executable, "-m", "stampnet.bench", *forwarded, "--save", str(save)],
                                  env={**os.environ, "KERAS_BACKEND": name}, stdout=sys.stderr)
            failed |= done.returncode != 0
            results[name] = json.loads(save.read_text()) if save.is_file() else {"device": f"failed ({done.returncode})"}
    print(compare_table(results))
    if args.json:
        print(json.dumps(_jsonable(results)))
    if args.save:
        Path(args.save).write_text(json.dumps(_jsonable(results)) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
