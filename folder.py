"""StampNet on your own grayscale images: every PNG/JPEG under a folder (nested allowed), resized to 64×64.

``python folder.py with run_parameters.img_type_parameters.data_path=path/to/images [quick]``
Options (run_parameters.img_type_parameters): resize "fit" (whole image) or "crop" (centre crop, then resize),
invert (dark objects on a light background), test_fraction. Set the canvas with
layer_parameters.input_parameters.img_rows/img_cols (and encoder_parameters.final_conv_kernel to reach a 1×1
latent), the stamps with decoder_parameters.nr_of_stamps / stamp_size / stamps_per_canvas.

The config is stampnet/experiments/folder.py; ``python -m stampnet.run folder with …`` is the same."""
from stampnet.experiment import build

ex = build("folder", __file__)

if __name__ == "__main__":
    ex.run_commandline()
