"""T-MNIST-1: one MNIST digit on an 84×84 canvas, 40 stamps, 1 slot (the 2019 example script).
``python t_mnist_1.py with quick`` (MNIST from ``keras.datasets.mnist``, downloaded once into ~/.keras/datasets/),
or ``with quick run_parameters.mnist_path=PATH`` for an ``mnist.npz`` in Keras' layout or a folder of IDX files.

The config is stampnet/experiments/t_mnist_1.py; ``python -m stampnet.run t_mnist_1 with …`` is the same."""
from stampnet.experiment import build

ex = build("t_mnist_1", __file__)

if __name__ == "__main__":
    ex.run_commandline()
