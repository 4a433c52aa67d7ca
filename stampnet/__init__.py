"""StampNet: unsupervised multi-class object discovery (Visser et al., arXiv 1902.02693), in Keras 3."""

__version__ = "0.1.0"


class ConfigError(ValueError):
    """A configuration or input problem, with a one-line message that names the fix."""
