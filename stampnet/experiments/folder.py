"""StampNet on your own grayscale images: every PNG/JPEG under a folder (nested allowed), resized to 64×64.

``python folder.py with run_parameters.img_type_parameters.data_path=path/to/images [quick]``
Options (run_parameters.img_type_parameters): resize "fit" (whole image) or "crop" (centre crop, then resize),
invert (dark objects on a light background), test_fraction. Set the canvas with
layer_parameters.input_parameters.img_rows/img_cols (and encoder_parameters.final_conv_kernel to reach a 1×1
latent), the stamps with decoder_parameters.nr_of_stamps / stamp_size / stamps_per_canvas."""

CONFIG = {
    "seed": 1,
    "run_parameters": {
        "epochs": 200, "steps_per_epoch": 128, "validation_steps": 10, "shuffle": True,
        "img_type": "folder",
        "img_type_parameters": {"data_path": "data/my_images", "resize": "fit", "invert": False,
                                "test_fraction": 0.2},
    },
    "layer_parameters": {
        "input_parameters": {"img_rows": 64, "img_cols": 64, "img_channels": 1, "batch_size": 64},
        "encoder_parameters": {"final_conv_kernel": [2, 2]},
        "decoder_parameters": {"nr_of_stamps": 10, "stamp_size": 16, "stamps_per_canvas": 3,
                               "gumbel_parameters": {"tau_init": 7, "anneal_rate": 0.03, "min_temperature": 0.2}},
    },
}
