#!/usr/bin/env bash
# Table 1: the four IEMOCAP ablations (sessions 1-3 train, 4 valid, 5 test), per-emotion binary
# accuracy and F1. Six runs; a run shared by two sub-tables is run once:
#   shallow_finetune      (5.1) (5.3)   coattn_finetune      (5.1)
#   speech_only_finetune  (5.2)         text_only_finetune   (5.2)
#   shallow_frozen        (5.3) (5.4)   coattn_frozen        (5.4)
#
# Usage: bash scripts/reproduce/table1.sh DATA --pretrained DIR [--out RESULTS_DIR] [--gpus N] [--preset demo]
#   DATA: a prepared data directory with the ablation split (scripts/prepare_data.py iemocap, no --fold),
#         or the raw IEMOCAP_full_release folder, or a manifest.tsv (prepared into RESULTS_DIR/data/table1).
# Common options: see scripts/reproduce/common.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_common "$@"

if ! is_prepared "$DATA"; then
  if [ -d "$DATA/Session1" ]; then prepare iemocap "$DATA" "$OUT/data/table1"
  else prepare manifest "$DATA" "$OUT/data/table1"; fi
  DATA="$OUT/data/table1"
fi
PROTO="protocol=IEMOCAP ablation split: sessions 1-3 train, 4 valid, 5 test"

run_exp table1 shallow_finetune     "$DATA" ssl_emotion_shallow     iemocap_binary --meta "$PROTO"
run_exp table1 coattn_finetune      "$DATA" ssl_emotion_coattn      iemocap_binary --meta "$PROTO"
run_exp table1 speech_only_finetune "$DATA" ssl_emotion_speech_only iemocap_binary --meta "$PROTO"
run_exp table1 text_only_finetune   "$DATA" ssl_emotion_text_only   iemocap_binary --meta "$PROTO"
run_exp table1 shallow_frozen       "$DATA" ssl_emotion_shallow     iemocap_binary --meta "$PROTO" --freeze-ssl
run_exp table1 coattn_frozen        "$DATA" ssl_emotion_coattn      iemocap_binary --meta "$PROTO" --freeze-ssl
finish
