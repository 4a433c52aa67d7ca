"""Omniglot clustering: one handwritten character (28×28) per 56×56 canvas, one slot, one stamp per character.

K (nr_of_stamps) is the number of characters in the chosen subset: 50 for the default Latin + Greek. Put the
official zips (images_background.zip, …) in data/omniglot or point data_path at them; `python -m
stampnet.evaluate runs/omniglot/<id>` reports StampNet's clusters beside k-means with the same K.
``python omniglot.py with quick run_parameters.img_type_parameters.data_path=path/to/omniglot``"""

CONFIG = {
    "seed": 1,
    "run_parameters": {
        "epochs": 200, "steps_per_epoch": 128, "validation_steps": 10, "shuffle": True,
        "img_type": "omniglot",
        "img_type_parameters": {"data_path": "data/omniglot", "alphabets": ["Latin", "Greek"], "char_size": 28,
                                "test_fraction": 0.25, "nr_img_per_canvas": 1},
    },
    "layer_parameters": {
        "input_parameters": {"img_rows": 56, "img_cols": 56, "img_channels": 1, "batch_size": 64},
        "encoder_parameters": {"final_conv_kernel": [2, 2]},
        "decoder_parameters": {"nr_of_stamps": 50, "stamp_size": 28, "stamps_per_canvas": 1,
                               "gumbel_parameters": {"tau_init": 7, "anneal_rate": 0.03, "min_temperature": 0.2}},
    },
}
