"""CT-MNIST-2 (paper Table): two digits + 8 clutter pieces on 100×100, 40 stamps, 2 slots (published 2019 run 0).
Make the data first: ``python generate_cluttered_mnist.py``. Then ``python ct_mnist_2.py with quick``

The config is stampnet/experiments/ct_mnist_2.py; ``python -m stampnet.run ct_mnist_2 with …`` is the same."""
from stampnet.experiment import build

ex = build("ct_mnist_2", __file__)

if __name__ == "__main__":
    ex.run_commandline()
