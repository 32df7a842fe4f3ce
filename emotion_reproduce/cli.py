"""Command lines of the reproduction: one experiment, the paper's tables, a run's plots.

Installed as ``emotion-experiment``, ``emotion-tables`` and ``emotion-plot-run`` (and run by
``scripts/run_experiment.py``, ``scripts/make_tables.py``, ``scripts/plot_run.py``).
"""
import argparse
import json
import sys
from pathlib import Path

from emotion_core.files import atomic_write_text
from emotion_core.label_spaces import ACCEPTED_TARGET_TYPES, label_space
from emotion_core.labels import LabelInfo, read_labels_file
from emotion_reproduce.experiment import (SCHEDULES, SPEECH_ENCODERS, dry_run, load_settings, run_configuration,
                                          run_experiment)
from emotion_reproduce.tables import check_lines, checks, render

RUN_EXPERIMENT_DOC = """Run one experiment: fairseq-train, fairseq-validate on the test split, scoring, plots, results.json.

Example (one Table 1 run on the demo data, CPU):
    python scripts/run_experiment.py --data DATA --pretrained PRETRAINED --run-dir RESULTS/table1/shallow_finetune \\
        --arch ssl_emotion_shallow --target-type iemocap_binary \\
        --config configs/tables/table1.yaml --config configs/tables/demo.yaml --meta preset=demo

A run whose RUN_DIR/results.json exists is skipped (--force reruns it); an interrupted run resumes.
Settings files and their keys: see emotion_reproduce/experiment.py.
"""


def _seeds(text):
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integer seeds, got {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds repeat: {text!r}")
    return seeds


def run_experiment_main(argv=None):
    """Run one experiment: fairseq-train, fairseq-validate on the test split, scoring, plots, results.json."""
    p = argparse.ArgumentParser(description=RUN_EXPERIMENT_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="prepared data directory (scripts/prepare_data.py)")
    p.add_argument("--pretrained", required=True, type=Path, help="pretrained layout (bert_kmeans/, roberta.large/)")
    p.add_argument("--run-dir", required=True, type=Path, help="output folder of this run")
    p.add_argument("--arch", required=True, help="ssl_emotion_shallow | _coattn | _speech_only | _text_only")
    p.add_argument("--target-type", required=True, choices=ACCEPTED_TARGET_TYPES,
                   help="label space over the data's labels.json (multiclass = categorical, iemocap_binary = "
                        "per_class_binary)")
    p.add_argument("--freeze-ssl", action="store_true", help="keep the speech encoder and RoBERTa frozen")
    p.add_argument("--speech-encoder", choices=SPEECH_ENCODERS, default="speech_bert",
                   help="the speech encoder of the pretrained layout: speech_bert (the paper's, bert_kmeans/), "
                        "wav2vec2 (wav2vec_small.pt) or hubert (hubert_base_ls960.pt); the waveform encoders need "
                        "data prepared with --speech-input waveform or both")
    p.add_argument("--config", action="append", default=[], type=Path,
                   help="settings file (YAML); repeat to layer them, later ones win")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set lr=1e-4 --set max_epoch=3")
    p.add_argument("--seed", type=int, default=1, help="fairseq --seed (also PYTHONHASHSEED); recorded")
    p.add_argument("--seeds", type=_seeds, metavar="S1,S2,...",
                   help="run the configuration once per seed (RUN_DIR/seed<S>/) and write RUN_DIR/summary.json: "
                        "per metric the values, mean, std and a bootstrap 95%% interval")
    p.add_argument("--gpus", type=int, default=0,
                   help="0: CPU; N >= 1: N GPUs (N > 1 through fairseq's distributed launcher); "
                        "update-freq = effective batch / (batch size x N)")
    p.add_argument("--table", help="table this run belongs to (recorded)")
    p.add_argument("--name", help="run name (recorded; default: the run dir's name)")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="free notes recorded in results.json, e.g. preset=demo, protocol=...")
    p.add_argument("--schedule", choices=SCHEDULES,
                   help="scaled: the polynomial schedule spans max_epoch epochs of this corpus (default); original: "
                        "the original code's fixed 2760 updates with 165 of warm-up, 10 epochs, for every corpus")
    p.add_argument("--dry-run", action="store_true", help="print the commands the run would run, and run nothing")
    p.add_argument("--force", action="store_true", help="rerun from scratch even when results.json exists")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep checkpoint_last.pt once finished")
    p.add_argument("--no-plots", action="store_true", help="skip curves.png / confusion.png")
    args = p.parse_args(argv)

    settings = load_settings(args.config, args.set)
    if args.schedule:
        settings["schedule"] = args.schedule
    meta = dict(item.partition("=")[::2] for item in args.meta)
    run = {"data": args.data.resolve(), "pretrained": args.pretrained.resolve(), "run_dir": args.run_dir.resolve(),
           "arch": args.arch, "target_type": args.target_type, "freeze_ssl": args.freeze_ssl,
           "speech_encoder": args.speech_encoder, "seed": args.seed,
           "gpus": args.gpus, "table": args.table, "name": args.name, "meta": meta,
           "settings_files": [str(c) for c in args.config]}
    if args.dry_run:
        print(dry_run(run, settings))
        return 0
    options = dict(force=args.force, keep_checkpoints=args.keep_checkpoints, plots=not args.no_plots)
    try:
        if args.seeds:
            run_configuration(run, settings, args.seeds, **options)
        else:
            run_experiment(run, settings, **options)
    except (RuntimeError, AssertionError, ValueError) as err:
        print(f"[run] {args.run_dir} FAILED: {err}", file=sys.stderr)
        return 1
    return 0


MAKE_TABLES_DOC = """Render the paper's Tables 1-5 (and the modern speech encoders, m) from a results directory as Markdown,
the paper's numbers beside ours.

    python scripts/make_tables.py RESULTS_DIR [--out tables.md] [--tables 145m] [--intervals] [--checks [--strict]]

Our cells show a run's value, or mean ± std over a configuration's runs (seeds, folds); --intervals
adds the bootstrap 95% interval computed from the runs' predictions. --checks appends the
qualitative checks, each a paired comparison with its difference, interval and p-value
(CHECK <name>: PASS|FAIL (<figures>)); --strict then exits 3 when one fails. Plot links are relative
to the --out file's folder (or to the current folder).
"""


def make_tables_main(argv=None):
    """Render the paper's Tables 1-5 from a results directory as Markdown, the paper's numbers beside ours."""
    p = argparse.ArgumentParser(description=MAKE_TABLES_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results_dir", type=Path)
    p.add_argument("--out", type=Path, help="also write the Markdown to this file")
    p.add_argument("--tables", default="12345m", help="which tables, e.g. 145 (default: all; m: modern speech encoders)")
    p.add_argument("--intervals", action="store_true", help="add each cell's bootstrap 95%% interval")
    p.add_argument("--checks", action="store_true", help="append the CHECK lines (from Table 1's runs)")
    p.add_argument("--strict", action="store_true", help="with --checks: exit 3 when a check fails")
    args = p.parse_args(argv)

    assert args.results_dir.is_dir(), f"{args.results_dir} is not a directory"
    link_root = args.out.resolve().parent if args.out else Path.cwd()
    text = render(args.results_dir, args.tables, link_root, args.intervals)
    failed, section = False, ""
    if args.checks:
        found = checks(args.results_dir)
        failed = not all(ok for _, ok, _ in found)
        section = "\n## Qualitative checks\n\n```\n" + "\n".join(check_lines(found)) + "\n```\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, text + section)
    print(text)
    if args.checks:  # the CHECK lines last, as the demo's closing lines
        print("\n".join(check_lines(found)))
    return 3 if failed and args.strict else 0


PLOT_RUN_DOC = """Draw a run's training/validation curves and test confusion matrix as PNG files.

    python scripts/plot_run.py RUN_DIR [RUN_DIR ...] [--target-type T [--labels DATA_DIR/labels.json]]

Reads RUN_DIR/train.log (fairseq --log-format json --log-file) and RUN_DIR/predictions.jsonl; writes
RUN_DIR/curves.png, RUN_DIR/confusion.png (the label space's panels: a 2x2 matrix per class for
per_class_binary, the class matrix for categorical, 7x7 of rounded scores for regression, predicted
against true values per dimension) and, when results.json holds a fitted temperature,
RUN_DIR/calibration.png (the reliability diagram before and after temperature scaling). The target
type and labels default to those in results.json.
"""


def plot_run_main(argv=None):
    """Draw a run's training/validation curves and test confusion matrix as PNG files."""
    from emotion_reproduce.plots import plot_run  # matplotlib only for this command

    p = argparse.ArgumentParser(description=PLOT_RUN_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", type=Path)
    p.add_argument("--target-type", choices=ACCEPTED_TARGET_TYPES, help="default: read from RUN_DIR/results.json")
    p.add_argument("--labels", type=Path, help="with --target-type: the data directory's labels.json")
    args = p.parse_args(argv)
    for run_dir in args.run_dirs:
        if args.target_type is None:
            results = run_dir / "results.json"
            assert results.exists(), f"{results} missing: pass --target-type"
            recorded = json.loads(results.read_text())
            space = label_space(recorded["target_type"],
                                LabelInfo.from_json(recorded["labels"], str(results)) if "labels" in recorded else None)
            temperature = (recorded.get("calibration") or {}).get("temperature")
        else:
            space = label_space(args.target_type, read_labels_file(args.labels) if args.labels else None)
            temperature = None
        for kind, path in plot_run(run_dir, space, temperature).items():
            print(f"{kind}: {path}")
    return 0
