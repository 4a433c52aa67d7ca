"""Omniglot clustering: one handwritten character (28×28) per 56×56 canvas, one slot, one stamp per character.

K (nr_of_stamps) is the number of characters in the chosen subset: 50 for the default Latin + Greek. Put the
official zips (images_background.zip, …) in data/omniglot or point data_path at them; `python -m
stampnet.evaluate runs/omniglot/<id>` reports StampNet's clusters beside k-means with the same K.
``python omniglot.py with quick run_parameters.img_type_parameters.data_path=PATH`` (a folder with the zips).

The config is stampnet/experiments/omniglot.py; ``python -m stampnet.run omniglot with …`` is the same."""
from stampnet.experiment import build

ex = build("omniglot", __file__)

if __name__ == "__main__":
    ex.run_commandline()
