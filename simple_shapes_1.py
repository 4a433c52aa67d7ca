"""Simple Shapes-1 (paper Table): 84×84 canvases, one of five 28×28 shapes each, 10 stamps, 1 slot.
No 2019 script shipped; the simple_shapes_2 settings with one object and one slot.
``python simple_shapes_1.py with quick``

The config is stampnet/experiments/simple_shapes_1.py; ``python -m stampnet.run simple_shapes_1 with …`` is the same."""
from stampnet.experiment import build

ex = build("simple_shapes_1", __file__)

if __name__ == "__main__":
    ex.run_commandline()
