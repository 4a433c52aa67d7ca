"""Run an experiment of the package: ``python -m stampnet.run <experiment> [Sacred options] [with key=value …]``.

The same as ``python <experiment>.py …`` in a checkout, wherever the package is installed: the experiment's
config comes from ``stampnet/experiments/<experiment>.py``, runs go to ``runs/<experiment>/<id>`` in the current
folder (or ``$STAMPNET_RUNS``), relative data paths are read from the current folder. Example::

    python -m stampnet.run simple_shapes_2 with quick
    python -m stampnet.run ct_mnist_2 print_config
"""
from __future__ import annotations

import sys

from stampnet import ConfigError, experiments


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__ + "\nExperiments: " + ", ".join(experiments.names()))
        return 0
    if not argv or argv[0] == "with" or argv[0].startswith("-"):
        print("error: name the experiment first: python -m stampnet.run <experiment> [with key=value …]; "
              f"experiments: {', '.join(experiments.names())}", file=sys.stderr)
        return 2
    from stampnet.experiment import build

    try:
        ex = build(argv[0])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ex.run_commandline([f"python -m stampnet.run {argv[0]}", *argv[1:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
