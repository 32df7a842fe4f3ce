#!/usr/bin/env python
"""Run one experiment: fairseq-train, fairseq-validate on the test split, scoring, plots, results.json.

Example (one Table 1 run on the demo data, CPU):
    python scripts/run_experiment.py --data DATA --pretrained PRETRAINED --run-dir RESULTS/table1/shallow_finetune \\
        --arch ssl_emotion_shallow --target-type iemocap_binary \\
        --config configs/tables/table1.yaml --config configs/tables/demo.yaml --meta preset=demo

A run whose RUN_DIR/results.json exists is skipped (--force reruns it); an interrupted run resumes.
Settings files and their keys: see emotion_reproduce/experiment.py.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for emotion_reproduce

from emotion_reproduce.experiment import load_settings, run_experiment  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="prepared data directory (scripts/prepare_data.py)")
    p.add_argument("--pretrained", required=True, type=Path, help="pretrained layout (bert_kmeans/, roberta.large/)")
    p.add_argument("--run-dir", required=True, type=Path, help="output folder of this run")
    p.add_argument("--arch", required=True, help="ssl_emotion_shallow | _coattn | _speech_only | _text_only")
    p.add_argument("--target-type", required=True, choices=["iemocap_binary", "multiclass", "regression"])
    p.add_argument("--freeze-ssl", action="store_true", help="keep Speech-BERT and RoBERTa frozen")
    p.add_argument("--config", action="append", default=[], type=Path,
                   help="settings file (YAML); repeat to layer them, later ones win")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set lr=1e-4 --set max_epoch=3")
    p.add_argument("--seed", type=int, default=1, help="fairseq --seed (also PYTHONHASHSEED); recorded")
    p.add_argument("--gpus", type=int, default=0,
                   help="0: CPU; N >= 1: N GPUs (N > 1 through fairseq's distributed launcher); "
                        "update-freq = effective batch / (batch size x N)")
    p.add_argument("--table", help="table this run belongs to (recorded)")
    p.add_argument("--name", help="run name (recorded; default: the run dir's name)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="free notes recorded in results.json, e.g. preset=demo, protocol=...")
    p.add_argument("--force", action="store_true", help="rerun from scratch even when results.json exists")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep checkpoint_last.pt once finished")
    p.add_argument("--no-plots", action="store_true", help="skip curves.png / confusion.png")
    args = p.parse_args(argv)

    settings = load_settings(args.config, args.set)
    meta = dict(item.partition("=")[::2] for item in args.meta)
    run = {"data": args.data.resolve(), "pretrained": args.pretrained.resolve(), "run_dir": args.run_dir.resolve(),
           "arch": args.arch, "target_type": args.target_type, "freeze_ssl": args.freeze_ssl, "seed": args.seed,
           "gpus": args.gpus, "table": args.table, "name": args.name, "meta": meta,
           "settings_files": [str(c) for c in args.config]}
    try:
        run_experiment(run, settings, force=args.force, keep_checkpoints=args.keep_checkpoints,
                       plots=not args.no_plots)
    except (RuntimeError, AssertionError) as err:
        print(f"[run] {args.run_dir} FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
