"""T-MNIST-2: two MNIST digits on an 84×84 canvas, 40 stamps, 2 slots (published 2019 run 0).
``python t_mnist_2.py with quick run_parameters.mnist_path=...``

The config is stampnet/experiments/t_mnist_2.py; ``python -m stampnet.run t_mnist_2 with …`` is the same."""
from stampnet.experiment import build

ex = build("t_mnist_2", __file__)

if __name__ == "__main__":
    ex.run_commandline()
