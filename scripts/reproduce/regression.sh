# Shared by table2.sh and table3.sh (sourced after common.sh).
# regression_table TABLE CORPUS DEFAULT_DATASET_NOTE ARGS...: prepare if needed, then one shallow-fusion run.
regression_table() {
  local table="$1" corpus="$2" note="$3"; shift 3
  parse_common "$@"
  local dataset folds labels column
  dataset="$(extra --dataset)"; folds="$(extra --folds)"; labels="$(extra --labels)"; column="$(extra --label-column)"
  if ! is_prepared "$DATA"; then
    if [ -f "$DATA" ]; then
      prepare manifest "$DATA" "$OUT/data/$table" --label-column "${column:-sentiment}"
    else
      [ -n "$folds" ] || { echo "$0: raw $corpus needs --folds FILE (the CMU Multimodal SDK's standard folds)" >&2; exit 2; }
      prepare "$corpus" "$DATA" "$OUT/data/$table" --folds "$folds" ${labels:+--labels "$labels"}
    fi
    DATA="$OUT/data/$table"
  fi
  run_exp "$table" shallow_finetune "$DATA" ssl_emotion_shallow regression --meta "protocol=${dataset:-$note}"
  finish
}
