"""StampNet's model and Sacred experiment, for scripts of your own: ``from stamp_network import ex``.

Both live in the package: the experiment in stampnet/experiment.py (``build``), the experiments' configs and the
named configs quick/cpu/fast in stampnet/experiments/, the model in stampnet/model.py (``build_model``). ``ex``
here has the defaults and the named configs and is named after the running script: a script adds its config
(``ex.add_config({...})``) and calls ``ex.run_commandline()``; its runs go to ``runs/<script>/<id>``. The
experiments of the package run with ``python <experiment>.py with …`` or ``python -m stampnet.run <experiment>
with …``.
"""
from stampnet.experiment import StampExperiment, build  # noqa: F401

ex = build()


def __getattr__(name):
    """The model's functions (``build_model`` …), imported when asked: Keras is slow to import."""
    import stampnet.model

    try:
        return getattr(stampnet.model, name)
    except AttributeError:
        raise AttributeError(f"module 'stamp_network' has no attribute {name!r}") from None


if __name__ == "__main__":
    ex.run_commandline()
