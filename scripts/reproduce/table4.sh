#!/usr/bin/env bash
# Table 4: IEMOCAP per-emotion binary accuracy and F1 with shallow fusion.
#   default: leave-one-session-out, 5 folds (test session K, valid session K%5+1), mean ± std over folds;
#   --split-file FILE: one run on a given split, e.g. the MulT/ICCN protocol's (CMU-SDK segment ids).
#
# Usage: bash scripts/reproduce/table4.sh DATA --pretrained DIR [--out RESULTS_DIR] [--gpus N] [--preset demo]
#          [--fold-list "1 2 3 4 5"] [--split-file FILE]
#   DATA: a folder holding prepared fold1/ .. fold5/, or IEMOCAP_full_release, or a manifest.tsv
#         (see folds.sh); with --split-file, also any prepared IEMOCAP data directory (its manifest.tsv).
#   FILE: JSON {"train": [ids], "valid": [ids], "test": [ids]} (or the SDK's *_std_folds.py form); an id is an
#         utterance id (Ses01F_impro01_F000) or a dialog id (Ses01F_impro01) covering its utterances.
# Common options: see scripts/reproduce/common.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$REPO/scripts/reproduce/folds.sh"
parse_common "$@"
SPLIT_FILE="$(extra --split-file)"
FOLD_LIST="$(extra --fold-list)"; FOLD_LIST="${FOLD_LIST:-1 2 3 4 5}"

if [ -n "$SPLIT_FILE" ]; then
  # The split file re-splits the corpus's utterances: write a manifest with a split column, then prepare it.
  if is_prepared "$DATA"; then manifest="$DATA/manifest.tsv"
  elif [ -f "$DATA" ]; then manifest="$DATA"
  elif [ -d "$DATA/Session1" ]; then prepare iemocap "$DATA" "$OUT/data/table4_all" --fold 1; manifest="$OUT/data/table4_all/manifest.tsv"
  else manifest="$(fold_data 1)/manifest.tsv"; fi
  mkdir -p "$OUT/data"
  PYTHONPATH="$REPO" "$PY" -m emotion_reproduce.splitfile "$manifest" "$SPLIT_FILE" "$OUT/data/table4_split.tsv"
  prepare manifest "$OUT/data/table4_split.tsv" "$OUT/data/table4_split"
  run_exp table4 split "$OUT/data/table4_split" ssl_emotion_shallow iemocap_binary \
    --meta "protocol=split file $SPLIT_FILE" --meta "split_file=$SPLIT_FILE"
else
  run_loso_folds table4 iemocap_binary
fi
finish
