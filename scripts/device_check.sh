#!/usr/bin/env bash
# GPU check for the device tool: the benchmark (and, where TensorFlow exists, one epoch of ct_mnist_2.py).
#
# 1. Here, once, from the repository root (needs pip and PyPI):
#        bash scripts/device_check.sh prepare
#    It downloads the Python 3.12 wheels the GPU machine lacks (keras, namex, optree) into .whl/ (ignored by
#    git) and copies the MNIST subset there for CT-MNIST generation.
# 2. One device call (at most ~7.5 minutes, the machine's start extra; each step has its own timeout):
#        run(command="bash scripts/device_check.sh", carry=[".whl"], timeout_s=480)
#    Logs land in $OUT: device_check.log (everything), bench.json (the benchmark's JSON, rewritten after each
#    section, so a timeout keeps what was measured), bench_b512.json (separable training at batch 512),
#    bench.txt, bench_b512.txt, bench.err, ct_mnist_2.txt.
#
# The GPU machine's python3 (3.12) has JAX with CUDA but no TensorFlow, and TensorFlow cannot travel: its wheel
# (~600 MB, plus CUDA 12 libraries) is far over the tool's 64 MiB carry limit. So Keras runs on its JAX backend
# there (KERAS_BACKEND=jax; XLA always on). The benchmark's tf.data and jit on/off sections need TensorFlow and
# are skipped; ct_mnist_2.py needs TensorFlow (stampnet.train uses tf.data and tf.distribute) and runs only
# where it is importable.
set -u

if [ "${1:-}" = "prepare" ]; then
    set -e
    mkdir -p .whl
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
        keras==3.15.1 namex==0.1.0 optree==0.20.0
    if [ -f ../shared/data/mnist/mnist-subset.npz ]; then
        cp ../shared/data/mnist/mnist-subset.npz .whl/
    else
        echo "no ../shared/data/mnist/mnist-subset.npz: the ct_mnist_2 epoch would have no MNIST"
    fi
    du -sh .whl
    exit 0
fi

OUT=${OUT:-$PWD/device_out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/device_check.log") 2>&1
start=$SECONDS
say() { echo; echo "== $* ($((SECONDS - start)) s)"; }

say machine
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
nproc; python3 --version

say packages
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site:$PWD
else
    echo "no .whl/: run 'bash scripts/device_check.sh prepare' here and carry .whl"; exit 1
fi
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
if python3 -c "import tensorflow" 2>/dev/null; then export KERAS_BACKEND=tensorflow; else export KERAS_BACKEND=jax; fi
python3 - <<'EOF' || exit 1
import keras
print("keras", keras.__version__, "backend", keras.backend.backend())
if keras.backend.backend() == "jax":
    import jax
    print("jax", jax.__version__, jax.devices())
else:
    import tensorflow as tf
    print("tensorflow", tf.__version__, tf.config.list_physical_devices("GPU"))
EOF

say "benchmark: python -m stampnet.bench --json"
timeout 270 python3 -m stampnet.bench --json --save "$OUT/bench.json" > "$OUT/bench.txt" 2> "$OUT/bench.err"
echo "exit $?"; cat "$OUT/bench.txt"
grep -v -E "^(WARNING|I0000|E0000)" "$OUT/bench.err" | tail -n 40

say "benchmark, separable training at batch 512: python -m stampnet.bench --quick --json --batch 512 --only ''"
timeout 110 python3 -m stampnet.bench --quick --json --batch 512 --only "" --save "$OUT/bench_b512.json" \
    > "$OUT/bench_b512.txt" 2>> "$OUT/bench.err"
echo "exit $?"; head -n 8 "$OUT/bench_b512.txt"

say "one epoch of ct_mnist_2.py"
left=$((440 - (SECONDS - start)))  # keep the whole call under ~7.5 minutes
if [ "$KERAS_BACKEND" = tensorflow ] && [ -f .whl/mnist-subset.npz ] && [ "$left" -gt 90 ]; then
    data=data/cluttered_mnist/2-shape-8x8-clutter-8-times.npz
    python3 generate_cluttered_mnist.py --mnist .whl/mnist-subset.npz --digits 2 --n-train 14592 --n-test 1000 \
        --out "$data"
    STAMPNET_RUNS=/tmp/runs timeout "$left" python3 ct_mnist_2.py with run_parameters.epochs=1 \
        run_parameters.jit_compile=True run_parameters.img_type_parameters.test_size=256 \
        > "$OUT/ct_mnist_2.txt" 2>&1
    echo "exit $?"; grep -E "epoch|img/s|error|Error" "$OUT/ct_mnist_2.txt" | tail -n 20
else
    echo "skipped: ct_mnist_2.py trains through TensorFlow (tf.data, tf.distribute): backend $KERAS_BACKEND," \
        "$left s left" | tee "$OUT/ct_mnist_2.txt"
fi
say done
sleep 1  # let tee flush
