"""CT-MNIST-1: one digit + 8 clutter pieces on 100×100, 40 stamps, 1 slot (published 2019 run 0).
Make the data first: ``python generate_cluttered_mnist.py``. Then ``python ct_mnist_1.py with quick``

The config is stampnet/experiments/ct_mnist_1.py; ``python -m stampnet.run ct_mnist_1 with …`` is the same."""
from stampnet.experiment import build

ex = build("ct_mnist_1", __file__)

if __name__ == "__main__":
    ex.run_commandline()
