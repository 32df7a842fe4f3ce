#!/usr/bin/env bash
# Table 2: CMU-MOSEI sentiment regression with shallow fusion: Acc7, Acc2, F1, MAE (+ Acc5, Corr).
#
# Usage: bash scripts/reproduce/table2.sh DATA --pretrained DIR [--out RESULTS_DIR] [--gpus N] [--preset demo]
#   DATA: a prepared CMU-MOSEI data directory (scripts/prepare_data.py mosei ... --folds FILE --labels FILE),
#         or the raw CMU-MOSEI release folder with --folds FILE --labels FILE (prepared into RESULTS_DIR/data/table2),
#         or a manifest.tsv with --label-column COLUMN holding scores in [-3, 3].
#   --dataset TEXT: what the data is, recorded in the table's notes (default: CMU-MOSEI, standard folds).
# Common options: see scripts/reproduce/common.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$REPO/scripts/reproduce/regression.sh"
regression_table table2 mosei "CMU-MOSEI, standard folds" "$@"
