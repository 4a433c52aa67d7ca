"""Benchmark StampNet's training and inference at the CT-MNIST-2 shapes: ``python -m stampnet.bench``.

    python -m stampnet.bench                 # the full run (about 7 minutes on 2 CPU cores)
    python -m stampnet.bench --quick         # under 3 minutes on 2 CPU cores
    python -m stampnet.bench --quick --json  # the last line of stdout is one JSON object
    python -m stampnet.bench --quick --backends tensorflow,jax   # the training section on each backend, side by side

Measured in one process, on one machine, on the Keras backend of ``KERAS_BACKEND`` (100x100 canvases, 40
stamps of 28x28, 2 slots):

* training images/s and peak memory of the ``separable`` decoder (batch 64) and of the 2019 ``conv`` decoder
  (a small batch: it needs seconds per image on a CPU), and the speedup;
* the decoder's share of a training step: the same step with the decoder replaced by a trivial layer of the
  same output shape (still back-propagating into the heads), 1 - t_stub / t_real (median over back-to-back
  pairs of steps);
* the training step in ``model.fit`` fed by the real training feed (``stampnet.data.pipeline.epoch_batches``,
  NumPy batches, with the temperature schedule, as ``stampnet.train`` does) against the same ``fit`` fed one
  batch held in memory, and on TensorFlow against a tf.data pipeline over the same canvases;
* ``jit_compile`` (XLA) on and off (TensorFlow; JAX always compiles), and mixed precision (``mixed_bfloat16``);
* inference images/s: the soft path (``stampnet.model.predict`` at tau 1e-4), the reconstruction alone
  (``model.predict``) and hard inference (``stampnet.model.hard_reconstruct``: argmax stamps pasted);
* CT-MNIST generation: 70,000 two-digit canvases (60,000 + 10,000, one file) generated and written.

Timing: every contender is warmed up first (tracing and compilation excluded), then timed step by step in
interleaved rounds (A, B, C, A, B, C, ...) so that a load change on a shared machine hits all of them alike;
a step time is the median of its steps; images/s = batch / median step time.

Peak memory of a training step: TensorFlow's allocator (CPU or GPU) peak bytes during the timed steps minus
the bytes in use before them, i.e. the activations, gradients and temporaries a step needs beyond the model's
weights (see ``stampnet.bench.machine.PeakMemory`` for the other backends).

The package: ``machine`` (device, load, memory), ``data`` (canvases, generation), ``models`` (shapes, the
decoder stub), ``timing`` (contenders, interleaving), ``sections`` (the measures), ``report`` (table, JSON),
``run`` (the order of a run), ``__main__`` (the command line).
"""
