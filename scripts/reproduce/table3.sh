#!/usr/bin/env bash
# Table 3: CMU-MOSI sentiment regression with shallow fusion: Acc7, Acc2, F1, MAE (+ Acc5, Corr).
#
# Usage: bash scripts/reproduce/table3.sh DATA --pretrained DIR [--out RESULTS_DIR] [--gpus N] [--preset demo]
#   DATA: a prepared CMU-MOSI data directory (scripts/prepare_data.py mosi ... --folds FILE),
#         or the raw CMU-MOSI release folder with --folds FILE [--labels FILE] (prepared into RESULTS_DIR/data/table3),
#         or a manifest.tsv with --label-column COLUMN holding scores in [-3, 3].
#   --dataset TEXT: what the data is, recorded in the table's notes (default: CMU-MOSI, standard folds).
# Common options: see scripts/reproduce/common.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
source "$REPO/scripts/reproduce/regression.sh"
regression_table table3 mosi "CMU-MOSI, standard folds (1284/229/686 segments)" "$@"
