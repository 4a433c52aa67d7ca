"""T-MNIST-2: two MNIST digits on an 84×84 canvas, 40 stamps, 2 slots (published 2019 run 0).
``python t_mnist_2.py with quick run_parameters.mnist_path=...``"""

CONFIG = {
    "seed": 912958791,
    "run_parameters": {
        "epochs": 800, "steps_per_epoch": 128, "validation_steps": 100, "shuffle": False,
        "img_type": "t_mnist",
        "img_type_parameters": {"nr_img_per_canvas": 2, "overlap": True},
    },
    "layer_parameters": {
        "input_parameters": {"img_rows": 84, "img_cols": 84, "img_channels": 1, "batch_size": 64},
        "encoder_parameters": {"final_conv_kernel": [3, 3]},
        "decoder_parameters": {"nr_of_stamps": 40, "stamp_size": 28, "stamps_per_canvas": 2,
                               "gumbel_parameters": {"tau_init": 7, "anneal_rate": 0.005, "min_temperature": 0.2}},
    },
}
