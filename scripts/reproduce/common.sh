# Shared by table1.sh .. table5.sh (sourced, not run). Parses the common options and runs experiments
# through scripts/run_experiment.py, which skips finished runs (results.json) and resumes unfinished ones.
#
# Options of every table script:
#   DATA                 prepared data directory (scripts/prepare_data.py), or a raw corpus (see each script)
#   --pretrained DIR     pretrained layout (bert_kmeans/, roberta.large/, vq-wav2vec_kmeans.pt, gpt2_bpe/)  [required]
#   --out RESULTS_DIR    results root (default: outputs/results, git-ignored); runs go to RESULTS_DIR/tableN/<run>/
#   --gpus N             0 = CPU (default); N >= 1 GPUs, N > 1 through fairseq's distributed launcher
#   --preset NAME        paper (default: configs/tables/tableN.yaml only) or demo / demo_small
#                        (adds configs/tables/NAME.yaml: the tiny demo models' lr and epochs)
#   --seed S             fairseq seed (default 1)
#   --seeds S1,S2,...    run each configuration once per seed (RUN/seed<S>/) and summarise them in RUN/summary.json
#                        (mean, std, bootstrap 95% interval per metric); also the environment variable SEEDS
#   --jobs J             CPU only: run up to J independent experiments at once (default 1)
#   --set KEY=VALUE      extra setting override passed to every run (repeatable)
#   --schedule S         scaled (default: the schedule spans the table's epochs of this corpus) or original
#                        (the original code's fixed 2760 updates, 165 of warm-up, 10 epochs); recorded per run
#   --dry-run            print each run's fairseq commands, run nothing
#   --workers N          speech-tokenization processes when a raw corpus is prepared (default 1)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PY" ] || PY=python

DATA="" PRETRAINED="" OUT="outputs/results" GPUS=0 PRESET="paper" SEED=1 JOBS=1 WORKERS=1 DRY_RUN=0
SEEDS="${SEEDS:-}"
SETS=() EXTRA=()  # EXTRA: table-specific options left for the calling script

parse_common() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --pretrained) PRETRAINED="$2"; shift 2 ;;
      --out) OUT="$2"; shift 2 ;;
      --gpus) GPUS="$2"; shift 2 ;;
      --preset) PRESET="$2"; shift 2 ;;
      --seed) SEED="$2"; shift 2 ;;
      --seeds) SEEDS="$2"; shift 2 ;;
      --jobs) JOBS="$2"; shift 2 ;;
      --workers) WORKERS="$2"; shift 2 ;;
      --set) SETS+=(--set "$2"); shift 2 ;;
      --schedule) SETS+=(--set "schedule=$2"); shift 2 ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
      --*) EXTRA+=("$1" "$2"); shift 2 ;;
      *) [ -z "$DATA" ] || { echo "unexpected argument: $1" >&2; exit 2; }; DATA="$1"; shift ;;
    esac
  done
  [ -n "$DATA" ] || { echo "usage: $0 DATA --pretrained DIR [--out RESULTS_DIR] [--gpus N] [--preset demo]" >&2; exit 2; }
  [ -n "$PRETRAINED" ] || { echo "$0: --pretrained DIR is required" >&2; exit 2; }
  [ -e "$DATA" ] || { echo "$0: $DATA does not exist" >&2; exit 2; }
  [ -d "$PRETRAINED" ] || { echo "$0: --pretrained $PRETRAINED is not a directory" >&2; exit 2; }
  if [ "$GPUS" -gt 0 ] && [ "$JOBS" -gt 1 ]; then echo "$0: --jobs is for CPU runs; using 1" >&2; JOBS=1; fi
  mkdir -p "$OUT"
}

# Extra option value given to the calling script (e.g. `extra --split-file`), or empty.
extra() {
  local i
  for ((i = 0; i < ${#EXTRA[@]}; i += 2)); do [ "${EXTRA[i]}" = "$1" ] && { echo "${EXTRA[i+1]}"; return; }; done
  echo ""
}

is_prepared() { [ -f "$1/label/train.label" ] && [ -f "$1/speech/dict.txt" ]; }

# prepare CORPUS RAW OUT_DATA [prepare_data.py options...]: prepare a raw corpus unless already complete.
prepare() {
  local corpus="$1" raw="$2" out="$3"; shift 3
  "$PY" "$REPO/scripts/prepare_data.py" "$corpus" --raw "$raw" --pretrained "$PRETRAINED" --out "$out" \
    --workers "$WORKERS" "$@"
}

# CONFIGS: the settings files of a table under the chosen preset (set by configs_for TABLE).
configs_for() {
  CONFIGS=(--config "$REPO/configs/tables/$1.yaml")
  if [ "$PRESET" != "paper" ]; then
    [ -f "$REPO/configs/tables/$PRESET.yaml" ] || { echo "no preset configs/tables/$PRESET.yaml" >&2; exit 2; }
    CONFIGS+=(--config "$REPO/configs/tables/$PRESET.yaml")
  fi
}

RUNS=()
# run_exp TABLE NAME DATA ARCH TARGET_TYPE [run_experiment.py options...]: one run (in the background
# when --jobs > 1; `finish` waits for them all and checks that each wrote its results.json).
run_exp() {
  local table="$1" name="$2" data="$3" arch="$4" target="$5"; shift 5
  configs_for "$table"
  local seeding=(--seed "$SEED")
  [ -n "$SEEDS" ] && seeding=(--seeds "$SEEDS")
  local cmd=("$PY" "$REPO/scripts/run_experiment.py" --data "$data" --pretrained "$PRETRAINED"
             --run-dir "$OUT/$table/$name" --arch "$arch" --target-type "$target" "${seeding[@]}" --gpus "$GPUS"
             --table "$table" --name "$name" --meta "preset=$PRESET" "${CONFIGS[@]}" "${SETS[@]}" "$@")
  RUNS+=("$OUT/$table/$name")
  if [ "$DRY_RUN" = 1 ]; then "${cmd[@]}" --dry-run; return; fi
  if [ "$JOBS" -le 1 ]; then
    "${cmd[@]}" || true  # a failed run is reported by `finish`; the others still run
  else
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "${cmd[@]}" &
  fi
}

# Wait for background runs; exit non-zero when a run did not write its results.json.
finish() {
  [ "$DRY_RUN" = 1 ] && return
  wait
  local run failed=()
  for run in "${RUNS[@]}"; do [ -f "$run/results.json" ] || [ -f "$run/summary.json" ] || failed+=("$run"); done
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "$(basename "$0"): ${#failed[@]} run(s) failed: ${failed[*]} (see the messages above and each run's logs)" >&2
    exit 1
  fi
  echo "$(basename "$0"): ${#RUNS[@]} run(s) finished; results in $OUT (python scripts/make_tables.py $OUT)"
}
