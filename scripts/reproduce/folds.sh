# Shared by table4.sh and table5.sh (sourced after common.sh): the leave-one-session-out data folders.
# fold_data K: echo the prepared data directory of fold K, preparing it from a raw corpus when needed.
#   DATA holds fold1/ .. fold5/ prepared folders (scripts/prepare_data.py ... --fold K), or is the raw
#   IEMOCAP_full_release folder, or a manifest.tsv (prepared into RESULTS_DIR/data/foldK, shared by Tables 4 and 5).
fold_data() {
  local k="$1"
  if is_prepared "$DATA/fold$k"; then echo "$DATA/fold$k"; return; fi
  if [ -d "$DATA/Session1" ]; then prepare iemocap "$DATA" "$OUT/data/fold$k" --fold "$k" >&2
  elif [ -f "$DATA" ]; then prepare manifest "$DATA" "$OUT/data/fold$k" --fold "$k" >&2
  else echo "$0: $DATA has no prepared fold$k/ and is neither IEMOCAP_full_release nor a manifest.tsv" >&2; exit 2; fi
  echo "$OUT/data/fold$k"
}

# run_loso_folds TABLE TARGET_TYPE: one shallow-fusion run per fold of FOLD_LIST, protocol recorded in each result.
run_loso_folds() {
  local table="$1" target="$2" k data
  for k in $FOLD_LIST; do
    data="$(fold_data "$k")"
    run_exp "$table" "fold$k" "$data" ssl_emotion_shallow "$target" --meta "fold=$k" \
      --meta "protocol=leave-one-session-out (fold K: test session K, valid session K%5+1, train the other 3)"
  done
}
