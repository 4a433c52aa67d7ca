#!/usr/bin/env python
"""Generate the CT-MNIST files of 2019 (cluttered MNIST on 100×100 canvases) into data/cluttered_mnist/.

    python generate_cluttered_mnist.py                      # both files, MNIST via keras (download + cache)
    python generate_cluttered_mnist.py --mnist path/to/mnist.npz        # offline: an mnist.npz or IDX folder
    python generate_cluttered_mnist.py --digits 2 --n-train 1000 --out /tmp/ct2.npz

Defaults reproduce the 2019 files: 8x8-clutter-8-times.npz (1 digit, seed 43) and
2-shape-8x8-clutter-8-times.npz (2 digits, seed 42), 60,000 training canvases and one canvas per test digit.
From fewer training digits the 60,000 reuse them (fresh positions, partners and clutter; the file records how
many distinct digits and which MNIST). See stampnet/data/cluttered.py for the exact recipe and data/README.md
for the MNIST options.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stampnet import ConfigError, cli
from stampnet.data.cluttered import (DATA_DIR, TRAIN_CANVASES_2019, default_file_name, generate_cluttered_mnist,
                                     reuse_note, save_npz_atomic)
from stampnet.data.mnist import load_mnist, source_name


def parse_args(argv=None) -> argparse.Namespace:
    ap = cli.ArgumentParser(prog="python generate_cluttered_mnist.py", description=__doc__.split("\n\n")[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mnist", default=None, metavar="PATH",
                    help="mnist.npz (Keras layout) or a folder with the IDX .gz files; default: keras download")
    ap.add_argument("--digits", type=int, choices=(1, 2), default=None,
                    help="digits per canvas; default: make both 2019 files")
    ap.add_argument("--seed", type=cli.seed, default=None,
                    help="RandomState seed; default: the 2019 seed (43 for 1 digit, 42 for 2 digits)")
    ap.add_argument("--n-train", type=cli.positive_int, default=TRAIN_CANVASES_2019,
                    help=f"training canvases (default {TRAIN_CANVASES_2019:,} as 2019; digits are reused when the "
                         "MNIST source has fewer)")
    ap.add_argument("--n-test", type=cli.positive_int, default=None, help="test canvases (default: one per test digit)")
    ap.add_argument("--canvas", type=cli.positive_int, default=100, help="canvas side in pixels (default 100)")
    ap.add_argument("--n-clutter", type=cli.nonnegative_int, default=8, help="clutter pieces per canvas (default 8)")
    ap.add_argument("--clutter-size", type=cli.positive_int, default=8, help="side of a clutter piece (default 8)")
    ap.add_argument("--out", default=None, metavar="PATH",
                    help=f"output folder (default {DATA_DIR.relative_to(DATA_DIR.parents[1])}) or, with --digits, "
                         "an output .npz file")
    args = ap.parse_args(argv)
    # What can be checked before MNIST is read (or downloaded): MNIST digits are 28x28.
    if args.canvas < 28:
        ap.error(f"argument --canvas: 28x28 digits do not fit on a {args.canvas}x{args.canvas} canvas; "
                 "use --canvas >= 28")
    if args.clutter_size > args.canvas:
        ap.error(f"argument --clutter-size: {args.clutter_size}x{args.clutter_size} clutter does not fit on a "
                 f"{args.canvas}x{args.canvas} canvas; use --clutter-size <= {args.canvas}")
    if args.out is not None and Path(args.out).suffix == ".npz" and not Path(args.out).parent.is_dir():
        ap.error(f"argument --out: the folder {str(Path(args.out).parent)!r} does not exist; create it first")
    if args.out is not None and Path(args.out).suffix != ".npz" and Path(args.out).is_file():
        ap.error(f"argument --out: {args.out!r} is a file; give a folder, or a .npz file name with --digits")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        out = Path(args.out) if args.out else DATA_DIR
        digit_counts = (1, 2) if args.digits is None else (args.digits,)
        if out.suffix == ".npz" and len(digit_counts) > 1:
            raise ConfigError("--out names one .npz file, but two files are made; add --digits 1 or 2, "
                              "or give a folder")
        mnist = load_mnist(args.mnist)
        print(f"MNIST: {len(mnist[0][0])} training and {len(mnist[1][0])} test digits "
              f"from {args.mnist or 'keras.datasets.mnist'}")
        for n in digit_counts:
            start = time.perf_counter()
            arrays = generate_cluttered_mnist(mnist, n, seed=args.seed, n_train=args.n_train, n_test=args.n_test,
                                              canvas=args.canvas, n_clutter=args.n_clutter,
                                              clutter_size=args.clutter_size, progress=True,
                                              source=source_name(args.mnist))
            path = out if out.suffix == ".npz" else out / default_file_name(n, args.n_clutter, args.clutter_size)
            try:
                save_npz_atomic(path, arrays)
            except OSError as err:
                raise ConfigError(f"cannot write {path} ({err.strerror or err}); choose another --out") from None
            print(reuse_note(arrays))
            print(f"wrote {path} ({len(arrays['x_train'])} train + {len(arrays['x_test'])} test canvases, "
                  f"{time.perf_counter() - start:.1f} s)")
            del arrays  # free before the next file
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the file in progress was not written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
