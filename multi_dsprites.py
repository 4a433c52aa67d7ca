"""Multi-dSprites (DeepMind multi_object_datasets): 64×64 canvases of occluding dSprites shapes (square, ellipse,
heart) with true masks: StampNet's ARI-FG beside the slot and sprite methods'. Default variant ``binarized``
(2–3 white sprites on black, one channel): 30 stamps of 24 px, three slots; the encoder's five poolings leave
2×2, hence ``final_conv_kernel`` [2, 2]. The coloured variants need three channels and more slots:
``with run_parameters.img_type_parameters.variant=colored_on_grayscale
layer_parameters.input_parameters.img_channels=3 layer_parameters.decoder_parameters.stamps_per_canvas=5``
(``colored_on_colored``: ``stamps_per_canvas=4``). The official file via
``run_parameters.img_type_parameters.data_path=…/multi_dsprites_<variant>.tfrecords``; without it a look-alike
set is generated (stampnet/data/multi_dsprites.py). ``python multi_dsprites.py with quick``

The config is stampnet/experiments/multi_dsprites.py; ``python -m stampnet.run multi_dsprites with …`` is the same."""
from stampnet.experiment import build

ex = build("multi_dsprites", __file__)

if __name__ == "__main__":
    ex.run_commandline()
