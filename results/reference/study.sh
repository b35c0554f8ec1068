#!/usr/bin/env bash
# The reference study (issue 20): every learner on its embedded default under the default rules and ladder, one run
# after another on this machine, each into results/reference/runs/<name>/. Re-running the script skips the runs that
# finished and resumes one that was interrupted (resume=true), so the study can span sessions.
#
#   bash results/reference/study.sh            # every run below, in order
#   bash results/reference/study.sh mcts_seed0 # only the runs named
#
# Per run it records, beside the run's own files, `wall.tsv` (start, end, wall seconds, exit code, the commit at the
# start) and `load.tsv` (the 1-minute load average every 60 seconds while it ran): the wall-clock axis depends on
# load, the sample and compute axes do not.
set -u
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
RUNS=results/reference/runs
SHARED_RLVR="+network@learner.policy=shared"   # mcts's default network, written into rlvr's policy fields

# name | overrides (the budget, eval and ladder are each learner's embedded default)
STUDY=(
  "random_seed0|learner=random seed=0"
  "random_seed1|learner=random seed=1"
  "rlvr_seed0|learner=rlvr $SHARED_RLVR seed=0"
  "mcts_seed0|learner=mcts seed=0"
  "rlvr_seed1|learner=rlvr $SHARED_RLVR seed=1"
  "mcts_seed1|learner=mcts seed=1"
  "icl_seed0|learner=icl seed=0"
  "icl_lora_seed0|learner=icl learner.memory=lora seed=0"
  "rlvr_llm_seed0|learner=rlvr_llm seed=0"
  "icl_seed1|learner=icl seed=1"
  "icl_lora_seed1|learner=icl learner.memory=lora seed=1"
  "rlvr_llm_seed1|learner=rlvr_llm seed=1"
  "rlvr_seed2|learner=rlvr $SHARED_RLVR seed=2"
  "mcts_seed2|learner=mcts seed=2"
  "mcts_4x_seed0|learner=mcts budget.amount=240000 seed=0"
  "rlvr_4x_seed0|learner=rlvr $SHARED_RLVR budget.amount=19200 seed=0"
)

wanted() { [ $# -eq 1 ] && return 0; local n; for n in "${@:2}"; do [ "$n" = "$1" ] && return 0; done; return 1; }

for entry in "${STUDY[@]}"; do
  name=${entry%%|*}; overrides=${entry#*|}
  wanted "$name" "$@" || continue
  dir=$RUNS/$name
  if [ -f "$dir/wall.tsv" ] && tail -1 "$dir/wall.tsv" | awk -F'\t' '{exit !($4 == 0)}'; then
    echo "study: $name finished before, skipped"; continue
  fi
  resume=false; [ -f "$dir/metrics.jsonl" ] && resume=true
  mkdir -p "$dir"
  ( while sleep 60; do printf '%s\t%s\n' "$(date -u +%FT%TZ)" "$(cut -d' ' -f1 /proc/loadavg)"; done ) >>"$dir/load.tsv" &
  sampler=$!
  start=$(date -u +%FT%TZ); t0=$(date +%s)
  # the code the run loads: HEAD at its start, "+dirty" when src/ or conf/ differ from it
  commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src conf || echo +dirty)
  echo "study: $name: $PY -m bench $overrides (resume=$resume)"
  # shellcheck disable=SC2086
  $PY -m bench $overrides resume=$resume progress=false report=false hydra.run.dir="$dir" >>"$dir/stdout.log" 2>&1
  code=$?
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  [ -f "$dir/wall.tsv" ] || printf 'start\tend\twall_s\texit\tcommit\n' >"$dir/wall.tsv"
  printf '%s\t%s\t%s\t%s\t%s\n' "$start" "$(date -u +%FT%TZ)" "$(( $(date +%s) - t0 ))" "$code" "$commit" \
    >>"$dir/wall.tsv"
  echo "study: $name exit $code after $(( $(date +%s) - t0 )) s: $(tail -2 "$dir/stdout.log" | head -1)"
done
