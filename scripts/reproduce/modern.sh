#!/usr/bin/env bash
# Beyond the paper: today's speech encoders in the paper's joint fine-tuning. The paper's shallow fusion
# (fine-tuned, with RoBERTa) with each speech encoder, on the same splits and metrics:
#   speech_bert  the paper's Speech-BERT over vq-wav2vec tokens (PRETRAINED/bert_kmeans/bert_kmeans.pt)
#   wav2vec2     wav2vec 2.0 over the 16 kHz audio (PRETRAINED/wav2vec_small.pt)
#   hubert       HuBERT over the 16 kHz audio (PRETRAINED/hubert_base_ls960.pt)
# Two protocols: Table 1's (per-emotion binary accuracy and F1 on the ablation split) and Table 5's
# (4-class per-class accuracy, UA and WA; leave-one-session-out folds with --folds, else DATA's split).
# Runs: RESULTS/modern/<encoder>_binary, RESULTS/modern/<encoder>_4class[_fold<K>].
#
# Usage: bash scripts/reproduce/modern.sh DATA --pretrained DIR [--out RESULTS_DIR] [--folds FOLDS_DIR]
#          [--fold-list "1 2 3 4 5"] [--encoders "speech_bert wav2vec2 hubert"] [common options]
#   DATA: the ablation split (sessions 1-3 train, 4 valid, 5 test) prepared with --speech-input both,
#         or the raw IEMOCAP_full_release folder, or a manifest.tsv (prepared so into RESULTS_DIR/data/modern).
#   FOLDS_DIR: fold1/ .. fold5/ prepared with --fold K --speech-input both (Table 5's protocol).
# Common options: see scripts/reproduce/common.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
parse_common "$@"
FOLDS="$(extra --folds)"
FOLD_LIST="$(extra --fold-list)"; FOLD_LIST="${FOLD_LIST:-1 2 3 4 5}"
ENCODERS="$(extra --encoders)"; ENCODERS="${ENCODERS:-speech_bert wav2vec2 hubert}"

if ! is_prepared "$DATA"; then
  if [ -d "$DATA/Session1" ]; then prepare iemocap "$DATA" "$OUT/data/modern" --speech-input both
  else prepare manifest "$DATA" "$OUT/data/modern" --speech-input both; fi
  DATA="$OUT/data/modern"
fi
PROTO="protocol=IEMOCAP ablation split: sessions 1-3 train, 4 valid, 5 test"

for enc in $ENCODERS; do
  run_exp modern "${enc}_binary" "$DATA" ssl_emotion_shallow iemocap_binary --speech-encoder "$enc" \
    --meta "$PROTO" --meta "speech_encoder=$enc" --meta "protocol_of=table1"
  if [ -n "$FOLDS" ]; then
    for k in $FOLD_LIST; do
      run_exp modern "${enc}_4class_fold$k" "$FOLDS/fold$k" ssl_emotion_shallow multiclass --speech-encoder "$enc" \
        --meta "fold=$k" --meta "speech_encoder=$enc" --meta "protocol_of=table5" \
        --meta "protocol=leave-one-session-out (fold K: test session K, valid session K%5+1, train the other 3)"
    done
  else
    run_exp modern "${enc}_4class" "$DATA" ssl_emotion_shallow multiclass --speech-encoder "$enc" \
      --meta "$PROTO" --meta "speech_encoder=$enc" --meta "protocol_of=table5"
  fi
done
finish
