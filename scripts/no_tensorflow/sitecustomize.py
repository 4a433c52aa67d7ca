"""Makes every `import tensorflow…` fail, as on a machine without TensorFlow (the GPU machine's case).

Put this folder first on PYTHONPATH: used by tests/test_backends.py and scripts/device_check.sh's rehearsal."""
import importlib.abc
import importlib.machinery
import sys

class _Missing(importlib.abc.Loader):
    def create_module(self, spec):
        raise ModuleNotFoundError(f"No module named {spec.name!r} (blocked: a machine without TensorFlow)",
                                  name=spec.name)

    def exec_module(self, module):
        pass

class _NoTensorFlow(importlib.abc.MetaPathFinder):
    # A spec whose loader fails: `import tensorflow` raises ModuleNotFoundError; importlib.util.find_spec
    # (which PyTorch's dynamo calls for many modules) gets a spec without origin instead of an exception.
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return importlib.machinery.ModuleSpec(name, _Missing(), origin=None)
        return None

sys.meta_path.insert(0, _NoTensorFlow())
