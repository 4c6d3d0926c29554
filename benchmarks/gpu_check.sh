#!/usr/bin/env bash
# One short GPU measurement (<= 8 min on one H200), run from the repository root:
#
#     bash benchmarks/gpu_check.sh [OUT_DIR]        # OUT_DIR defaults to $OUT, else ./gpu_check_out
#
# 1. Fig. 3 at the paper's size, D = 5000, 10 seeds, 11 alphas, batched on CUDA (exact
#    gradient-flow end points), with the agreement summary; capped at 300 s.
# 2. ResNet-18 (width 64) images/s for pretraining and fine-tuning on CUDA (AMP), capped at 150 s.
# 3. Batched network training (gd and mirror steps/s at D = 1000 and 5000), capped at 60 s.
# 4. Network training to the flow end point on CUDA, D = 1000, alpha 0.5, mixed and rich settings,
#    every registered method (accel, mirror, gd; 30 s budget each), with the distance to the exact
#    flow minimiser (the CPU row of benchmarks/bench_speed.py, on the GPU), capped at 240 s.
# 5. Finite-D AMP (Bayes denoiser, torch) at D = 8000, 16 seeds, against the state evolution.
# GPU_CHECK_STEPS="name ..." runs a subset; FIG3_SEEDS (default 10) sets step 1's seeds, TRAIN_BUDGET
# (default 30) step 4's seconds per run.
# Each step's wall time and exit status go to OUT_DIR/gpu_check.json; the figure, its CSV and the
# benchmark JSONs go to OUT_DIR.  Without CUDA it says so on stderr and exits 2 before doing anything.
set -u
OUT_DIR=${1:-${OUT:-./gpu_check_out}}
mkdir -p "$OUT_DIR" || { echo "gpu_check: cannot create $OUT_DIR" >&2; exit 2; }
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
export PTFT_CACHE_DIR=${PTFT_CACHE_DIR:-$OUT_DIR/.ptft-cache}
if ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: CUDA is not available on this machine (torch.cuda.is_available() is False); nothing measured" >&2
    exit 2
fi
python -c "import torch; print('gpu_check:', torch.cuda.get_device_name(), 'torch', torch.__version__)"
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv 2>/dev/null | tee "$OUT_DIR/nvidia_smi.csv"

status=()
step() {            # step NAME LIMIT_S COMMAND...: run with a time cap, record wall time and exit code
    local name=$1 limit=$2; shift 2
    # GPU_CHECK_STEPS="amp_torch train_to_flow" runs only the steps named (default: all)
    if [ -n "${GPU_CHECK_STEPS:-}" ] && [[ " $GPU_CHECK_STEPS " != *" $name "* ]]; then return 0; fi
    local t0=$(date +%s.%N)
    timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
    local rc=$?
    local dt=$(python -c "print(round($(date +%s.%N) - $t0, 1))")
    echo "gpu_check: $name rc=$rc wall=${dt}s (limit ${limit}s)"
    tail -n 3 "$OUT_DIR/$name.log"
    status+=("\"$name\": {\"rc\": $rc, \"wall_s\": $dt, \"limit_s\": $limit}")
}

step fig3_d5000 300 python -m ptft.cli figure fig3 --device cuda --seeds "${FIG3_SEEDS:-10}" --out "$OUT_DIR/fig3_d5000.png"
step resnet18 150 python benchmarks/bench_resnet.py --device cuda --depth 18 --width 64 --out "$OUT_DIR/resnet_cuda.json"
step train_steps 60 python benchmarks/bench_simulate.py --device cuda --quick --out "$OUT_DIR/simulate_cuda.json"
BENCH_SPEED_DEVICE=cuda BENCH_SPEED_TRAIN_BUDGET=${TRAIN_BUDGET:-30} \
    step train_to_flow 240 python benchmarks/bench_speed.py --child train --quick
cp "$OUT_DIR/train_to_flow.log" "$OUT_DIR/train_to_flow_cuda.json" 2>/dev/null
step amp_simulate 60 python -m ptft.cli simulate --method amp --omega 0.5 --noise 0.1 --alpha 0.3 --dim 8000 --seeds 16 --device cuda --format csv --out "$OUT_DIR/amp_simulate_cuda.csv"
step amp_torch 60 python -m ptft.cli bayes --omega 0.5 --noise 0.1 --alpha 0.3 --simulate --dim 8000 --seeds 16 --device cuda --format csv --out "$OUT_DIR/amp_cuda.csv"

( IFS=,; echo "{${status[*]}}" ) > "$OUT_DIR/gpu_check.json"
cat "$OUT_DIR/gpu_check.json"
