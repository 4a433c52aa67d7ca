"""Pedestrians in overhead depth maps (the paper's application): 80×80 crops, 40 stamps of 40×40, 3 slots.
Settings of the published 2019 run 0. The real recordings go in data/pedestrian/ (<minute>/<image>.png +
ped_info.json, or pedestrian.tar.gz); without them a documented synthetic set is generated there
(``python -m stampnet.data.pedestrian --synthetic``). ``python pedestrian.py with quick``"""

CONFIG = {
    "seed": 285058718,
    "run_parameters": {
        "epochs": 1000, "steps_per_epoch": 128, "validation_steps": 100, "shuffle": False,
        "img_type": "pedestrian",
        "img_type_parameters": {"data_path": "data/pedestrian", "resize": False, "shuffle": True, "shape_size": 40},
    },
    "layer_parameters": {
        "input_parameters": {"img_rows": 80, "img_cols": 80, "img_channels": 1, "batch_size": 64},
        "encoder_parameters": {"final_conv_kernel": [3, 3]},
        "decoder_parameters": {"nr_of_stamps": 40, "stamp_size": 40, "stamps_per_canvas": 3,
                               "gumbel_parameters": {"tau_init": 7, "anneal_rate": 0.01, "min_temperature": 0.2}},
    },
}
