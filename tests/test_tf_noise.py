"""On a machine without a GPU, TensorFlow's start-up lines become one plain line; real warnings stay."""
import os
import subprocess
import sys

import pytest

from stampnet.tf_noise import NO_GPU_LINE, filter_lines, gpu_device_present
from tests.conftest import REPO_ROOT

TF_START = """WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795874176.272370    4390 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
E0000 00:00:1795874212.677540    4983 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
E0000 00:00:1795875953.031485   13795 node_def_util.cc:682] NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition
something TensorFlow really wants to say
"""


def test_filter_drops_the_noise_and_keeps_the_rest():
    assert filter_lines(TF_START) == [NO_GPU_LINE, "something TensorFlow really wants to say"]
    assert filter_lines("a real line\n") == ["a real line"]


@pytest.mark.skipif(gpu_device_present(), reason="the machine has a GPU: TensorFlow finds it, nothing to quiet")
@pytest.mark.slow
def test_a_script_without_a_gpu_prints_one_plain_line():
    code = ("import importlib.util, stampnet, warnings\n"
            "assert importlib.util.find_spec('tensorflow') is not None\n"  # as Sacred asks: must not use the hook up
            "import keras, tensorflow as tf\n"
            "list(tf.data.Dataset.range(4).map(lambda x: x + 1, num_parallel_calls=2).as_numpy_iterator())\n"
            "keras.ops.convert_to_numpy(keras.ops.ones(3) * 2)\n"
            "warnings.warn('a real warning')\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0] == NO_GPU_LINE, proc.stderr
    assert any("UserWarning: a real warning" in line for line in lines), proc.stderr
    assert not any(("cuInit" in line or "cudart_stub" in line or "absl::InitializeLog" in line
                    or "use_unbounded_threadpool" in line) for line in lines), proc.stderr
