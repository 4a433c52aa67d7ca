"""StampNet: unsupervised multi-class object discovery (Visser et al., arXiv 1902.02693), in Keras 3."""

__version__ = "0.1.0"


class ConfigError(ValueError):
    """A configuration or input problem, with a one-line message that names the fix."""


BACKENDS = ("tensorflow", "jax", "torch")  # the Keras backends StampNet is tested on (numpy/openvino: no training)


def check_environment() -> None:
    """The environment variables read before our code runs: an unknown KERAS_BACKEND would end in Keras'
    import traceback, so it stops here with one line (exit code 2)."""
    import os
    import sys

    backend = os.environ.get("KERAS_BACKEND")
    if backend is not None and backend not in BACKENDS + ("numpy", "openvino"):
        print(f"error: KERAS_BACKEND={backend!r} is not a Keras backend; set it to one of {', '.join(BACKENDS)} "
              "(or unset it for tensorflow)", file=sys.stderr)
        raise SystemExit(2)


check_environment()

# Before anything imports TensorFlow: on a machine without a GPU its start-up lines read like failures.
from stampnet import tf_noise as _tf_noise  # noqa: E402

_tf_noise.install()
