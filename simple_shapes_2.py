"""Simple Shapes-2 (paper Table): 84×84 canvases, two of five 28×28 shapes each, 10 stamps, 2 slots.
Settings of the published 2019 run 0. ``python simple_shapes_2.py with quick``

The config is stampnet/experiments/simple_shapes_2.py; ``python -m stampnet.run simple_shapes_2 with …`` is the same."""
from stampnet.experiment import build

ex = build("simple_shapes_2", __file__)

if __name__ == "__main__":
    ex.run_commandline()
