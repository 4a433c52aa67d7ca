"""Multi-dSprites (DeepMind multi_object_datasets): 64×64 canvases of occluding dSprites shapes (square, ellipse,
heart) with true masks: StampNet's ARI-FG beside the slot and sprite methods'. Default variant ``binarized``
(2–3 white sprites on black, one channel): 30 stamps of 24 px, three slots; the encoder's five poolings leave
2×2, hence ``final_conv_kernel`` [2, 2]. The coloured variants need three channels and more slots:
``with run_parameters.img_type_parameters.variant=colored_on_grayscale
layer_parameters.input_parameters.img_channels=3 layer_parameters.decoder_parameters.stamps_per_canvas=5``
(``colored_on_colored``: ``stamps_per_canvas=4``). The official file via
``run_parameters.img_type_parameters.data_path=…/multi_dsprites_<variant>.tfrecords``; without it a look-alike
set is generated (stampnet/data/multi_dsprites.py). ``python multi_dsprites.py with quick``"""

CONFIG = {
    "seed": 64,
    "run_parameters": {
        "epochs": 200, "steps_per_epoch": 128, "validation_steps": 10,
        "img_type": "multi_dsprites",
        "img_type_parameters": {"variant": "binarized", "data_path": None},
    },
    "layer_parameters": {
        "input_parameters": {"img_rows": 64, "img_cols": 64, "img_channels": 1, "batch_size": 64},
        "encoder_parameters": {"conv_layer_sizes": [16, 32, 64, 128, 128], "final_conv_kernel": [2, 2]},
        "decoder_parameters": {"nr_of_stamps": 30, "stamp_size": 24, "stamps_per_canvas": 3,
                               "gumbel_parameters": {"tau_init": 7, "anneal_rate": 0.03, "min_temperature": 0.2}},
    },
}
