#!/usr/bin/env bash
# The GPU path, run once where a GPU is: mcts and rlvr with runtime.device=cuda, icl with llm.device=cuda, each on
# a tiny budget, beside the same run on the CPU, printing learning throughput (the budget's unit per second of the
# learner's wall clock) and the ratio. About 5 minutes on one GPU with a few cores; nothing in bench depends on it.
#
#   bash benchmarks/gpu_smoke.sh              # cuda against cpu
#   DEVICE=cpu bash benchmarks/gpu_smoke.sh   # the same script on a machine without a GPU (checks the script)
#   PY=/path/to/python bash benchmarks/gpu_smoke.sh
#   ONLY=mcts,rlvr bash benchmarks/gpu_smoke.sh   # some of the cases
#
# Each run: ladder=quick eval=quick, one evaluation at the end only (eval_at_start=false), no report. The mcts net
# is the size a GPU pays for (6x64) as well as the default (1x16).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-$(mktemp -d)}
echo "gpu_smoke: device=$DEVICE, results in $OUT"
"$PY" - "$DEVICE" "$OUT" <<'EOF'
import json, os, sys, time
from pathlib import Path

device, out = sys.argv[1], Path(sys.argv[2])
import torch
print(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}"
      + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""), flush=True)
print(f"load average {os.getloadavg()[0]:.2f} on {len(os.sched_getaffinity(0))} usable cores", flush=True)

from hydra import compose, initialize_config_dir
from bench.cli import CONFIG_PATH, register
from bench.run import run

register()
COMMON = ["ladder=quick", "eval=quick", "eval.games=2", "progress=false", "budget.eval_at_start=false",
          "budget.evals=1", "budget.first=1.0"]
CASES = [  # (name, overrides, the device override)
    ("mcts 1x16", ["learner=mcts", "budget.amount=2048", "learner.in_process=true"], "runtime.device"),
    ("mcts 6x64", ["learner=mcts", "budget.amount=2048", "learner.in_process=true", "learner.blocks=6",
                   "learner.channels=64", "learner.games_per_worker=128"], "runtime.device"),
    ("rlvr", ["learner=rlvr", "budget.amount=24"], "runtime.device"),
    ("icl", ["learner=icl", "budget.points=[2]", "budget.amount=2", "learner.max_plies=30"], "llm.device"),
]
only = os.environ.get("ONLY")
CASES = [c for c in CASES if not only or any(word in c[0] for word in only.split(","))]
rows = []
for name, overrides, key in CASES:
    rates = {}
    for dev in dict.fromkeys([device, "cpu"]):
        with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
            cfg = compose(config_name="config", overrides=COMMON + overrides + [f"{key}={dev}"])
        target = out / f"{name.replace(' ', '_')}_{dev}"
        start = time.perf_counter()
        try:
            result = run(cfg, run_dir=target)
        except Exception as exc:  # report and go on: one failing learner must not hide the others
            print(f"{name} on {dev}: FAILED {type(exc).__name__}: {exc}", flush=True)
            continue
        record = [json.loads(line) for line in (target / "metrics.jsonl").read_text().splitlines()][-1]
        unit, spent = record["budget"]["unit"], record["budget"]["spent"]
        wall = record["compute"]["wall_s"]
        rates[dev] = spent / wall if wall else float("nan")
        print(f"{name} on {dev}: {spent:g} {unit} in {wall:.1f} s of learning ({rates[dev]:.2f} {unit}/s), "
              f"Elo {result['elo']:.0f}, run {time.perf_counter() - start:.0f} s in all", flush=True)
    if device in rates and "cpu" in rates and device != "cpu":
        rows.append(f"{name}: {device} {rates[device]:.2f} vs cpu {rates['cpu']:.2f} per s -> "
                    f"{rates[device] / rates['cpu']:.2f}x")
print("\n".join(["summary:"] + rows) if rows else "summary: no device/cpu pair completed")
EOF
