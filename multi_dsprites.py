"""Multi-dSprites (DeepMind multi_object_datasets): 64×64 canvases of occluding dSprites shapes with true masks,
the variant a key (``run_parameters.img_type_parameters.variant``, default ``binarized``). ``python
multi_dsprites.py with quick``. The config, and what the coloured variants need, is
stampnet/experiments/multi_dsprites.py; ``python -m stampnet.run multi_dsprites with …`` is the same."""
from stampnet.experiment import build

ex = build("multi_dsprites", __file__)

if __name__ == "__main__":
    ex.run_commandline()
