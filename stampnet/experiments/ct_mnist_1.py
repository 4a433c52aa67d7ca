"""CT-MNIST-1: one digit + 8 clutter pieces on 100×100, 40 stamps, 1 slot (published 2019 run 0).
Make the data first: ``python generate_cluttered_mnist.py``. Then ``python ct_mnist_1.py with quick``"""

CONFIG = {
    "seed": 4069452,
    "run_parameters": {
        "epochs": 1000, "steps_per_epoch": 128, "validation_steps": 100, "shuffle": False,
        "img_type": "ct_mnist",
        "img_type_parameters": {"data_path": "data/cluttered_mnist/8x8-clutter-8-times.npz"},
    },
    "layer_parameters": {
        "input_parameters": {"img_rows": 100, "img_cols": 100, "img_channels": 1, "batch_size": 64},
        "encoder_parameters": {"final_conv_kernel": [4, 4]},
        "decoder_parameters": {"nr_of_stamps": 40, "stamp_size": 28, "stamps_per_canvas": 1,
                               "gumbel_parameters": {"tau_init": 7, "anneal_rate": 0.01, "min_temperature": 0.2}},
    },
}
