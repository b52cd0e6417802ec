#!/usr/bin/env bash
# The issue-2 GPU check (JAX backend) in one command on a machine with an NVIDIA GPU, JAX with
# CUDA and Python 3.12 but no Keras: wheels of keras 3.15.1, namex 0.1.0 and optree 0.20.0 in
# .whl/ (git-ignored) are installed to /tmp/site first; with Keras installed, SKIP_WHEELS=1.
#   bash benchmarks/gpu_check.sh
# Prints the GPU, JAX's devices, then benchmarks/cells.py at the GPU setting twice: float32
# matmuls (JAX_DEFAULT_MATMUL_PRECISION=highest, TF32 off, as in shared/anchors.md) and JAX's
# default precision (TF32 on Hopper). SIZES overrides the sizes for a dry run on a CPU.
set -u
if [ -z "${SKIP_WHEELS:-}" ] && [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit 1
fi
PY=${PY:-python3}
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
SIZES=${SIZES:---batch 256 --steps 200 --features 64 --units 256 --iterations 20 --rounds 5}
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
$PY -c "import jax, keras; print('jax', jax.__version__, 'keras', keras.__version__, jax.devices())"
JAX_DEFAULT_MATMUL_PRECISION=highest timeout 300 $PY benchmarks/cells.py --backend jax $SIZES \
  2>&1 | tee "$OUT/cells_fp32.txt"
timeout 150 $PY benchmarks/cells.py --backend jax $SIZES \
  --variants gru minimal mgu layernorm convgru sepconvgru 2>&1 | tee "$OUT/cells_default.txt"
echo "== float32 (TF32 off) =="; cat "$OUT/cells_fp32.txt" | grep -v "^I0000\|^WARNING"
