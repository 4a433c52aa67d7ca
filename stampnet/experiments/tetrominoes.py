"""Tetrominoes (DeepMind multi_object_datasets): 35×35 RGB canvases of three Tetris pieces on black, with true
masks: StampNet's ARI-FG beside the slot and sprite methods'. One colour stamp per shape and colour (19 × 6 = 114),
three slots. The official file via ``run_parameters.img_type_parameters.data_path=…/tetrominoes_train.tfrecords``;
without it a look-alike set is generated (stampnet/data/tetrominoes.py). ``python tetrominoes.py with quick``"""

CONFIG = {
    "seed": 35,
    "run_parameters": {
        "epochs": 200, "steps_per_epoch": 128, "validation_steps": 10,
        "img_type": "tetrominoes",
        "img_type_parameters": {"data_path": None},
    },
    "layer_parameters": {
        "input_parameters": {"img_rows": 35, "img_cols": 35, "img_channels": 3, "batch_size": 64},
        "encoder_parameters": {"conv_layer_sizes": [32, 64, 128, 128], "final_conv_kernel": [3, 3]},
        "decoder_parameters": {"nr_of_stamps": 114, "stamp_size": 20, "stamps_per_canvas": 3,
                               "gumbel_parameters": {"tau_init": 7, "anneal_rate": 0.03, "min_temperature": 0.2}},
    },
}
