"""StampNet: unsupervised multi-class object discovery (Visser et al., arXiv 1902.02693), in Keras 3."""

__version__ = "0.1.0"


class ConfigError(ValueError):
    """A configuration or input problem, with a one-line message that names the fix."""


# Before anything imports TensorFlow: on a machine without a GPU its start-up lines read like failures.
from stampnet import tf_noise as _tf_noise  # noqa: E402

_tf_noise.install()
