"""Tetrominoes (DeepMind multi_object_datasets): 35×35 RGB canvases of three Tetris pieces on black, with true
masks: StampNet's ARI-FG beside the slot and sprite methods'. One colour stamp per shape and colour (19 × 6 = 114),
three slots. The official file via ``run_parameters.img_type_parameters.data_path=…/tetrominoes_train.tfrecords``;
without it a look-alike set is generated (stampnet/data/tetrominoes.py). ``python tetrominoes.py with quick``

The config is stampnet/experiments/tetrominoes.py; ``python -m stampnet.run tetrominoes with …`` is the same."""
from stampnet.experiment import build

ex = build("tetrominoes", __file__)

if __name__ == "__main__":
    ex.run_commandline()
