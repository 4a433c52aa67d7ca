"""The benchmark's networks: StampNet at the CT-MNIST-2 shapes (or a toy size), and the same network with its
decoder replaced by a stub (for the decoder's share of a step)."""
from __future__ import annotations

# The CT-MNIST-2 experiment's shapes (ct_mnist_2.py): the decoder is chosen per contender.
CT_MNIST_2 = {
    "input_parameters": {"img_rows": 100, "img_cols": 100, "img_channels": 1, "batch_size": 64},
    "encoder_parameters": {"final_conv_kernel": [4, 4]},
    "decoder_parameters": {"nr_of_stamps": 40, "stamp_size": 28, "stamps_per_canvas": 2},
}
# The Simple Shapes-2 experiment's shapes (simple_shapes_2.py), for the roofline's second row.
SIMPLE_SHAPES_2 = {
    "input_parameters": {"img_rows": 84, "img_cols": 84, "img_channels": 1, "batch_size": 64},
    "encoder_parameters": {"final_conv_kernel": [3, 3]},
    "decoder_parameters": {"nr_of_stamps": 10, "stamp_size": 28, "stamps_per_canvas": 2},
}
# A toy network for the test suite's smoke run (--tiny): every section runs, in seconds.
TINY = {
    "input_parameters": {"img_rows": 32, "img_cols": 32, "img_channels": 1, "batch_size": 8},
    "encoder_parameters": {"conv_layer_sizes": [8, 16, 16], "final_conv_size": 32, "final_conv_kernel": [4, 4]},
    "decoder_parameters": {"nr_of_stamps": 10, "stamp_size": 8, "stamps_per_canvas": 2, "decoder_enc_size": 32},
}


def layer_parameters(shapes: dict, decoder: str, batch: int) -> dict:
    from stampnet.config import merge

    return merge(shapes, {"input_parameters": {"batch_size": batch}, "decoder_parameters": {"decoder": decoder}})


def build(shapes, decoder="separable", batch=64, jit_compile="auto", policy=None):
    """A compiled StampNet (optionally under a dtype policy, restored afterwards). ``jit_compile="auto"`` is
    Keras' choice: XLA off with TensorFlow on a CPU, on with TensorFlow on a GPU and with JAX."""
    import keras

    from stampnet.model import build_model

    previous = keras.mixed_precision.global_policy().name
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    try:
        return build_model(layer_parameters(shapes, decoder, batch), jit_compile=jit_compile)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def stub_model(model):
    """``model`` with its decoder replaced by a trivial layer of the same output shape that still sends a
    gradient into all three heads (shares every other layer's weights): the step without the decoder."""
    import keras
    from keras import ops

    from stampnet.model import compile_for_training

    decoder = model.get_layer("stamp_layer")
    size = decoder.coord_size + decoder.stamp_size - 1

    class StubDecoder(keras.layers.Layer):
        def build(self, *shapes):
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

        def call(self, stamp_probs, y_probs, x_probs):
            # A ramp-weighted sum (a plain sum of a softmax is 1, with zero gradient); (B,).
            ramp = lambda p: ops.sum(p * ops.linspace(0.0, 1.0, ops.shape(p)[-1]), (1, 2))
            v = ramp(stamp_probs) + ramp(y_probs) + ramp(x_probs)
            return ops.broadcast_to((0.01 * self.scale * v)[:, None, None, None],
                                    (ops.shape(stamp_probs)[0], size, size, 1))

    heads = [model.get_layer(f"softmax_{r}").output for r in ("stamp", "y", "x")]
    stub = keras.Model(model.input, StubDecoder(name="stub_decoder")(*heads), name="stampnet_stub")
    compile_for_training(stub, 0.002)
    return stub
