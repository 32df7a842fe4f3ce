#!/usr/bin/env bash
# Table 5: IEMOCAP 4-class per-class accuracy and unweighted accuracy with shallow fusion,
# leave-one-session-out cross-validation (test session K, valid session K%5+1), mean over folds.
#
# Usage: bash scripts/reproduce/table5.sh DATA --pretrained DIR [--out RESULTS_DIR] [--gpus N] [--preset demo]
#          [--fold-list "1 2 3 4 5"]
#   DATA: a folder holding prepared fold1/ .. fold5/, or IEMOCAP_full_release, or a manifest.tsv (see folds.sh).
# Common options: see scripts/reproduce/common.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$REPO/scripts/reproduce/folds.sh"
parse_common "$@"
FOLD_LIST="$(extra --fold-list)"; FOLD_LIST="${FOLD_LIST:-1 2 3 4 5}"

run_loso_folds table5 multiclass
finish
