"""Simple Shapes-1 (paper Table): 84×84 canvases, one of five 28×28 shapes each, 10 stamps, 1 slot.
No 2019 script shipped; the simple_shapes_2 settings with one object and one slot.
``python simple_shapes_1.py with quick``"""

CONFIG = {
    "seed": 1,  # no published run: any seed
    "run_parameters": {
        "epochs": 800, "steps_per_epoch": 128, "validation_steps": 100, "shuffle": False,
        "img_type": "t_shape",
        "img_type_parameters": {"nr_img_per_canvas": 1, "overlap": True, "shape_size": 28,
                                "shapes_to_use": ["plus", "equal", "triangle", "divide", "doublevertical"]},
    },
    "layer_parameters": {
        "input_parameters": {"img_rows": 84, "img_cols": 84, "img_channels": 1, "batch_size": 64},
        "encoder_parameters": {"final_conv_kernel": [3, 3]},
        "decoder_parameters": {"nr_of_stamps": 10, "stamp_size": 28, "stamps_per_canvas": 1,
                               "gumbel_parameters": {"tau_init": 7, "anneal_rate": 0.01, "min_temperature": 0.2}},
    },
}
