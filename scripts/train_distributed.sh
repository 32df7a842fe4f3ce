#!/usr/bin/env bash
# Distributed fairseq-train (or fairseq-validate) through torchrun, on GPUs or CPUs, one node or many.
#
# Usage: [NPROC=N] [NNODES=M NODE_RANK=K MASTER_ADDR=host MASTER_PORT=port] [FAIRSEQ_CLI=fairseq-validate] \
#          bash scripts/train_distributed.sh <fairseq-train arguments...>
#
#   NPROC        processes on this node (default: the number of visible GPUs, 2 without GPUs)
#   NNODES       nodes in the job (default 1); run the same command on every node with its own NODE_RANK
#   NODE_RANK    this node's index, 0 .. NNODES-1 (default 0)
#   MASTER_ADDR  address of node 0, reachable from every node (default 127.0.0.1)
#   MASTER_PORT  a free TCP port on node 0 (default 29500)
#   FAIRSEQ_CLI  fairseq-train (default) or fairseq-validate
#
# torchrun starts NPROC copies of this script; each one runs the fairseq CLI with the rank that
# torchrun gave it (fairseq does not read RANK/WORLD_SIZE from the environment on CPU-only machines:
# it divides by the GPU count there). With --cpu the gloo backend and legacy_ddp are used (NCCL and
# PyTorch DDP's device_ids need GPUs) unless you pass --distributed-backend / --ddp-backend yourself.
# Batch sizes are per process: the effective batch is NPROC * NNODES * --batch-size * --update-freq.
# See docs/reliability.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${VENV_BIN:-$ROOT/.venv/bin}"

if [[ -n "${_SSL_EMOTION_DIST_WORKER:-}" ]]; then  # one process started by torchrun
  extra=(--distributed-init-method env:// --distributed-no-spawn
         --distributed-world-size "$WORLD_SIZE" --distributed-rank "$RANK" --device-id "$LOCAL_RANK")
  args=" $* "
  if [[ "$args" == *" --cpu "* ]]; then
    [[ "$args" == *" --distributed-backend"* ]] || extra+=(--distributed-backend gloo)
    [[ "$args" == *" --ddp-backend"* ]] || extra+=(--ddp-backend legacy_ddp)
  fi
  exec "$BIN/${FAIRSEQ_CLI:-fairseq-train}" "$@" "${extra[@]}"
fi

if [[ -z "${NPROC:-}" ]]; then
  NPROC="$("$BIN/python" -c 'import torch; print(torch.cuda.device_count() or 2)')"
fi
export _SSL_EMOTION_DIST_WORKER=1
exec "$BIN/torchrun" --nproc_per_node "$NPROC" --nnodes "${NNODES:-1}" --node_rank "${NODE_RANK:-0}" \
  --master_addr "${MASTER_ADDR:-127.0.0.1}" --master_port "${MASTER_PORT:-29500}" \
  --no-python bash "${BASH_SOURCE[0]}" "$@"
