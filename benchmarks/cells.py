"""Milliseconds per training step of every cell variant, against `keras.layers.GRU` in the same run.

    python benchmarks/cells.py                       # TensorFlow, batch 64, 100 steps, 8 features, 64 units
    python benchmarks/cells.py --backend jax
    python benchmarks/cells.py --jit off             # no XLA anywhere (--jit on: XLA everywhere)
    python benchmarks/cells.py --batch 256 --steps 200 --features 64 --units 256   # the GPU setting

Each model is one recurrent layer (the layer `cells.build_model` uses for the variant) and a
Dense(1) head, trained with Adam on MSE. Machines here are noisy, so all models are built
first and then timed in interleaved rounds (`--rounds`, each `--iterations` steps per model);
each model's figure is its best round. Compare ratios from one run, never absolute times
across runs. The "gru" row is the same model as the `keras.layers.GRU` baseline: how far its
ratio strays from 1.00x is the run's noise (on the shared 2-core CPU at load ~6, 0.75x-1.5x).

GPU (JAX), 2026-11-27: one NVIDIA H100 80GB HBM3, JAX 0.11.2, Keras 3.15.1, float32 matmuls
(JAX_DEFAULT_MATMUL_PRECISION=highest, TF32 off as in shared/anchors.md), `bash
benchmarks/gpu_check.sh`, i.e. `--backend jax --batch 256 --steps 200 --features 64 --units 256
--iterations 20 --rounds 5`. Ratios to `keras.layers.GRU` in the same run (16.1, 15.2, 16.5 ms
per step in runs 1-3, each on a fresh machine); TF32 is JAX's default precision, run 1's machine:

    variant           run 1   run 2   TF32    target 1.2x
    gru               1.00x   1.02x   1.04x   (noise gauge)
    minimal           0.79x           0.81x   met
    mgu               1.03x   1.05x   1.01x   met
    layernorm         1.29x   1.35x   1.33x   MISSED
    convgru           1.18x   1.24x   1.13x   at the line
    sepconvgru        1.17x   1.20x   1.15x   at the line
    gru+luong         2.37x
    gru+bahdanau      5.69x  -> 4.04x (run 3, additive score recomputed in the backward pass)
    gru+bahdanau/a32  2.97x  -> 2.43x (run 3)

LayerNormGRUCell: its whole excess is the layer norm inside the loop (run 2, same machine:
input LN only 1.04x, loop LN only 1.27x, the hoisted GRU maths without LN 1.04x). The loop LN
adds row reductions to every step's forward and backward; on a GPU where a step is launch-bound
each one is a kernel. Tried, none within 1.2x (same run, layernorm itself 1.27x): one-pass
variance 1.31x, a hand-written LN gradient 1.29x, gain and shift fed per step so no reduction
over the batch stays in the loop 1.30x (both together 1.24x); dropping gain and shift from the
loop altogether still gives 1.16x. Closing the gap would need a fused kernel for the step.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# This file is named like the package it measures: drop its own folder from the path so that
# `import cells` finds the package (at the repository root), not this script.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

from cells.registry import VARIANTS as CELL_VARIANTS  # noqa: E402 (Keras-free; after the path)
from cells.registry import get_variant  # noqa: E402

# Every row is the layer `cells.build_model` builds for the variant at the same `units`: the conv
# variants get ceil(units / features) filters per feature position (a state of about `units`
# values). "+bahdanau"/"+luong" wrap the cell in `AttentionRNN`; "/a32" sets attention_units=32
# (default: units).
VARIANTS = (
    *CELL_VARIANTS,
    "gru+luong",
    "gru+bahdanau",
    "gru+bahdanau/a32",
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100, help="time steps per sequence")
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    parser.add_argument(
        "--jit",
        choices=("auto", "on", "off"),
        default="auto",
        help="auto: what cells.compile_model picks (XLA on JAX, and for attention on TensorFlow)",
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    return parser.parse_args(argv)


def build(name: str, args):
    import keras

    from cells import Architecture
    from cells.recurrent import attention_layer, recurrent_layer

    inputs = keras.Input((args.steps, args.features))
    if name == "keras.layers.GRU":
        x = keras.layers.GRU(args.units)(inputs)
    else:
        name, _, option = name.partition("/")
        variant, _, attention = name.partition("+")
        arch = Architecture(
            variant=variant,
            units=args.units,
            attention=attention or "none",
            attention_units=int(option[1:]) if option.startswith("a") else args.units,
        )
        x = inputs
        if get_variant(variant).convolutional:
            # One channel per feature position, as build_model does for (batch, time, features).
            x = keras.layers.Reshape((args.steps, args.features, 1))(x)
        make = attention_layer if attention else recurrent_layer
        x = make(arch, return_sequences=False, name="recurrent", features=args.features)(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    jit = {"on": True, "off": False}.get(args.jit, "auto")
    if jit == "auto":
        from cells.builder import attention_jit_compile

        jit = True if attention_jit_compile(model) else "auto"
    model.compile(optimizer="adam", loss="mse", jit_compile=jit)
    return model


def time_training_step(model, x, y, iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        model.train_on_batch(x, y)
    return 1000.0 * (time.perf_counter() - start) / iterations


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.steps, args.features)).astype("float32")
    y = rng.normal(size=(args.batch, 1)).astype("float32")

    names = ["keras.layers.GRU", *args.variants]
    models = {}
    for name in names:
        start = time.perf_counter()
        models[name] = build(name, args)
        for _ in range(args.warmup):  # traces and compiles
            models[name].train_on_batch(x, y)
        # Progress on stderr: a run cut short by a time limit still says how far it got.
        print(
            f"built {name} (+{args.warmup} warm-up steps) in {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    best = {name: float("inf") for name in names}
    for _ in range(args.rounds):
        for name in names:
            best[name] = min(best[name], time_training_step(models[name], x, y, args.iterations))
    baseline = best["keras.layers.GRU"]

    print(
        f"backend={args.backend} jit={args.jit} batch={args.batch} steps={args.steps} "
        f"features={args.features} units={args.units} rounds={args.rounds} "
        f"iterations={args.iterations} device={_device(args.backend)}"
    )
    print(f"| {'variant':<18} | {'ms / step':>9} | {'params':>8} | {'vs layers.GRU':>13} |")
    print(f"|{'-' * 20}|{'-' * 11}|{'-' * 10}|{'-' * 15}|")
    for name in names:
        ms, params = best[name], models[name].count_params()
        print(f"| {name:<18} | {ms:>9.1f} | {params:>8} | {ms / baseline:>12.2f}x |")
    return 0


def _device(backend: str) -> str:
    if backend == "jax":
        import jax

        return jax.devices()[0].platform
    import tensorflow as tf

    return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"


if __name__ == "__main__":
    sys.exit(main())
