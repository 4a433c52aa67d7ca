#!/usr/bin/env bash
# GPU check: on a machine with a GPU and JAX (CUDA), in about 10 minutes, a training on JAX, evaluated on its test
# canvases, then the benchmark at batch 64 and 512 (canvases/s and MFU of both decoders, inference). By default the
# training is Simple Shapes-2 with the `fast` recipe (120 epochs x 128 steps x batch 64 = 0.98 M canvases),
# checked against the recipe's targets; DEVICE_CHECK_RECIPE=none trains the published 2019 schedule instead
# (800 epochs, checked against the paper's row within 0.02). DEVICE_CHECK_EXP=ct_mnist_2 trains CT-MNIST-2 with
# `fast` at its 2.0 M-canvas allowance (240 epochs x 128 x 64), on cluttered canvases brought along.
# DEVICE_CHECK_EXP=table runs the paper's Table instead (python -m stampnet.table --recipe fast, the rows of
# DEVICE_CHECK_ROWS, default all, in that order) for as long as the budget lasts, and no benchmark; the MNIST
# rows need data/mnist/mnist-subset.npz or mnist.npz brought along, ~/.keras/datasets/mnist.npz, or DEVICE_CHECK_MNIST=PATH.
#
# 1. On a machine with PyPI, once, from the repository root, for a GPU machine that has JAX but no internet:
#        bash scripts/device_check.sh prepare
#    It downloads the Python 3.12 wheels such a machine may lack (keras, namex, optree, sacred and its small
#    dependencies, a setuptools that still has pkg_resources for sacred) into .whl/ (ignored by git).
#    For CT-MNIST-2 also, once: python generate_cluttered_mnist.py [--mnist PATH] (data/cluttered_mnist/, 10 MB).
# 2. On the GPU machine, in the repository (with .whl/ and, for CT-MNIST-2, data/cluttered_mnist/ copied along):
#        bash scripts/device_check.sh
#        DEVICE_CHECK_EXP=ct_mnist_2 bash scripts/device_check.sh
#        DEVICE_CHECK_EXP=table DEVICE_CHECK_ROWS=simple_shapes_2,t_mnist_1 bash scripts/device_check.sh
#    What it writes to $OUT (default device_out/): device_check.log (everything, with a summary at the end),
#    train.txt (the run's console), metrics.json (per-epoch loss, val_loss, tau), evaluate.txt (the measures,
#    JSON last), bench_b64.json / bench_b512.json (the benchmark's records),
#    bench.err; with DEVICE_CHECK_EXP=table: table.txt (its console) and results/fast/ (the rows' JSON and
#    table.md/csv/png, as python -m stampnet.table writes them).
# 3. A rehearsal on a CPU (JAX, with `import tensorflow` blocked as on a GPU machine without it, a tiny schedule):
#        DEVICE_CHECK_TINY=1 OUT=/tmp/device_out bash scripts/device_check.sh
#        DEVICE_CHECK_TINY=1 DEVICE_CHECK_EXP=ct_mnist_2 OUT=/tmp/device_out bash scripts/device_check.sh
#        DEVICE_CHECK_TINY=1 DEVICE_CHECK_EXP=table DEVICE_CHECK_ROWS=simple_shapes_2 OUT=/tmp/device_out bash scripts/device_check.sh
#
# Everything runs on Keras' JAX backend, so a machine with JAX and CUDA but no TensorFlow is enough.
# Validation is cut to 10 steps per epoch (2019: 100), which is no training; everything else is the run as
# configured (seed, data, τ schedule).
# Each step has its own time limit (DEVICE_CHECK_BUDGET, default 570 s in all), so a slow step still leaves the
# others their time: training gets what is left after ~150 s are kept for evaluation and the benchmark; if it is
# cut short, the latest checkpoint is evaluated and the summary says how many epochs were done.
set -u

if [ "${1:-}" = "prepare" ]; then
    set -e
    mkdir -p .whl
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
        keras==3.15.1 namex==0.1.0 optree==0.20.0 sacred==0.8.7 docopt-ng==0.9.0 jsonpickle==4.1.4 munch==4.0.0 \
        setuptools==80.9.0
    du -sh .whl
    exit 0
fi

OUT=${OUT:-$PWD/device_out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/device_check.log") 2>&1
start=$SECONDS
budget=${DEVICE_CHECK_BUDGET:-570}   # seconds for the whole script
say() { echo; echo "== $* ($((SECONDS - start)) s)"; }
left() { echo $((budget - (SECONDS - start))); }

say machine
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
nproc; python3 --version

say packages
export PYTHONPATH=$PWD
if python3 -c "import keras, sacred" 2>/dev/null; then
    echo "keras and sacred are installed already"
elif ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site:$PWD
else
    echo "no .whl/: run 'bash scripts/device_check.sh prepare' on a machine with PyPI and copy .whl/ here"; exit 1
fi
if [ -n "${DEVICE_CHECK_TINY:-}" ]; then  # the rehearsal: make `import tensorflow` fail, as on the GPU machine
    export PYTHONPATH=$PWD/scripts/no_tensorflow:$PYTHONPATH  # its sitecustomize.py blocks the import
fi
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=jax
python3 - <<'EOF' || exit 1
import keras, jax
print("keras", keras.__version__, "backend", keras.backend.backend(), "| jax", jax.__version__, jax.devices())
try:
    import tensorflow
    print("tensorflow importable:", tensorflow.__version__)
except ImportError:
    print("no tensorflow (as intended)")
EOF

exp=${DEVICE_CHECK_EXP:-simple_shapes_2}
if [ "$exp" = table ]; then
    rows=${DEVICE_CHECK_ROWS:-all}
    mnist=""
    for f in ${DEVICE_CHECK_MNIST:-} data/mnist/mnist-subset.npz data/mnist/mnist.npz ~/.keras/datasets/mnist.npz; do
        [ -f "$f" ] && { mnist="--mnist $f"; break; }
    done
    [ -z "$mnist" ] && echo "no MNIST file found (data/mnist/mnist-subset.npz): the MNIST rows will stop with one line"
    extra=""
    [ -n "${DEVICE_CHECK_TINY:-}" ] && extra="--recipe quick --limit 64 --with run_parameters.epochs=2 run_parameters.steps_per_epoch=4"
    say "table: python3 -m stampnet.table --rows $rows --no-2019 $mnist ${extra:---recipe fast}"
    t0=$SECONDS
    # shellcheck disable=SC2086
    timeout $(( $(left) - 20 )) python3 -m stampnet.table --rows "$rows" --no-2019 $mnist ${extra:---recipe fast} \
        --runs /tmp/device_check_runs --results "$OUT/results" > "$OUT/table.txt" 2>&1
    echo "exit $? after $((SECONDS - t0)) s"
    grep -E "^\[table\]" "$OUT/table.txt" | tail -n 20
    say summary
    cat "$OUT"/results/*/table.md 2>/dev/null || echo "no row finished"
    say done
    sleep 1
    exit 0
fi
case "$exp" in
    simple_shapes_2)
        if [ "${DEVICE_CHECK_RECIPE:-fast}" = none ]; then recipe=""; period=50; check=paper_simple_shapes_2
        else recipe="fast"; period=10; check=fast_simple_shapes_2; fi ;;      # 0.98 M training canvases
    ct_mnist_2) recipe="fast run_parameters.epochs=240"; period=10; check=fast_ct_mnist_2  # 2.0 M canvases
        ls data/cluttered_mnist/2-shape-8x8-clutter-8-times.npz >/dev/null 2>&1 || {
            echo "no data/cluttered_mnist/: generate it here (python generate_cluttered_mnist.py --mnist" \
                 "PATH) on a machine with MNIST and copy data/cluttered_mnist/ here"; exit 1; } ;;
    *) echo "DEVICE_CHECK_EXP must be simple_shapes_2 or ct_mnist_2, got '$exp'"; exit 1 ;;
esac
if [ -n "${DEVICE_CHECK_TINY:-}" ]; then
    schedule="$recipe run_parameters.epochs=2 run_parameters.steps_per_epoch=4 run_parameters.validation_steps=1
        run_parameters.checkpoint_period=1 run_parameters.img_type_parameters.test_size=64"
    bench_mode="--steps 1"; batches="8 16"
else
    schedule="$recipe run_parameters.validation_steps=10 run_parameters.checkpoint_period=$period"
    bench_mode="--steps 10"; batches="64 512"
fi

say "train: KERAS_BACKEND=jax python3 $exp.py with $schedule"
runs=/tmp/device_check_runs
rm -rf "$runs"
limit=$(( $(left) - 150 ))
[ "$limit" -lt 60 ] && limit=60
echo "time limit ${limit} s"
t0=$SECONDS
# shellcheck disable=SC2086
STAMPNET_RUNS=$runs timeout "$limit" python3 "$exp.py" with $schedule > "$OUT/train.txt" 2>&1
echo "exit $? after $((SECONDS - t0)) s"
grep -E "^epoch|error|Error" "$OUT/train.txt" | sed -n '1,3p;$p'
run=$runs/$exp/1
cp "$run/metrics.json" "$OUT/metrics.json" 2>/dev/null || echo "no metrics.json"

say "evaluate: python3 -m stampnet.evaluate $run --json"
timeout $(( $(left) - 100 > 30 ? $(left) - 100 : 30 )) python3 -m stampnet.evaluate "$run" --json \
    > "$OUT/evaluate.txt" 2>> "$OUT/bench.err"
echo "exit $?"; grep -E "cor_loc|iou|purity|nmi" "$OUT/evaluate.txt" | head -n 8

for b in $batches; do
    say "benchmark at batch $b: python3 -m stampnet.bench --config $exp $bench_mode --batch $b"
    # shellcheck disable=SC2086
    timeout $(( $(left) > 20 ? $(left) / 2 + 10 : 20 )) python3 -m stampnet.bench --config "$exp" $bench_mode \
        --batch "$b" --save "$OUT/bench_b$b.json" > /dev/null 2>> "$OUT/bench.err"
    echo "exit $?"
done

say summary
python3 - "$OUT" "$batches" "$check" <<'EOF'
import json, re, statistics, sys
from pathlib import Path
out, batches, check = Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3]
lines = [l for l in (out / "train.txt").read_text(errors="replace").splitlines() if l.startswith("epoch ")]
rates = [float(m.group(1)) for l in lines if (m := re.search(r"([\d.]+) img/s", l))]
if rates:
    print(f"training: {len(rates)} epochs; images/s per epoch (incl. validation), median after the first: "
          f"{statistics.median(rates[1:] or rates):.0f} (target >= 15000); last line: {lines[-1]}")
try:
    measures = json.loads((out / "evaluate.txt").read_text().strip().splitlines()[-1])
    # (what is compared, reference values, whether a measure m meets reference v)
    title, reference, meets = {
        "paper_simple_shapes_2": ("the paper's Simple Shapes-2 row (target within 0.02)",
                                  {"cor_loc": 0.9828, "iou": 0.9500, "purity": 0.9564}, lambda m, v: abs(m - v) <= 0.02),
        # the targets for Simple Shapes-2 with `fast` (docs/table.md; paper 0.9828 / 0.9500 / 0.9564)
        "fast_simple_shapes_2": ("the Simple Shapes-2 targets of the fast recipe (target at least)",
                                 {"cor_loc": 0.975, "iou": 0.94, "purity": 0.945}, lambda m, v: m >= v),
        # the targets for CT-MNIST-2 with `fast` at 2.0 M canvases (paper 0.9545 / 0.8394 / 0.6149)
        "fast_ct_mnist_2": ("the CT-MNIST-2 targets of the fast recipe (target at least)",
                            {"cor_loc": 0.945, "iou": 0.83, "purity": 0.60}, lambda m, v: m >= v),
    }[check]
    print(f"evaluation vs {title}: " + ", ".join(
        f"{k} {measures[k]:.4f} ({v}, {'ok' if meets(measures[k], v) else 'MISSES'})" for k, v in reference.items()))
except Exception as err:
    print("no evaluation:", err)
for b in batches:
    try:
        r = json.loads((out / f"bench_b{b}.json").read_text())
    except Exception as err:
        print(f"bench batch {b}: none ({err})")
        continue
    print(f"bench batch {b}: " + " | ".join(f"{x['measure']} (batch {x['batch']}) {x['canvases_s']:.0f} canvases/s, "
                                            f"MFU {100 * x['mfu']:.1f} %" for x in r["rows"]) + f" | {r['machine']}")
EOF
say done
sleep 1  # let tee flush
