"""Prepare a corpus into the data directory the ``multimodal_emotion`` task reads.

    python scripts/prepare_data.py {iemocap,mosi,mosei,manifest} --raw PATH --pretrained PRETRAINED_DIR \\
        --out DATA_DIR [--workers N] [--skip-bad] [split options]

See docs/data_preparation.md for the files each corpus adapter reads, the split options and the report.
"""
import argparse
import logging
import sys
from pathlib import Path


from emotion_core.files import OutputPathError
from emotion_data import prepare
from emotion_core.manifest import CorpusError
from emotion_data.splits import SplitError
from emotion_fairseq.safe_checkpoint import CheckpointLoadError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", choices=["iemocap", "mosi", "mosei", "manifest"], help="corpus adapter")
    p.add_argument("--raw", required=True, type=Path,
                   help="IEMOCAP_full_release folder; CMU-MOSI/MOSEI release folder (holding Raw/); or a manifest.tsv")
    p.add_argument("--pretrained", required=True, type=Path, help="folder with the pretrained layout")
    p.add_argument("--out", required=True, type=Path, help="data directory to write")
    p.add_argument("--workers", type=int, default=1, help="speech-tokenization processes")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave failed utterances out (listed in the report and dropped.tsv) instead of failing")
    p.add_argument("--max-frames", type=int, default=prepare.MAX_FRAMES, help="speech tokens kept per utterance")
    g = p.add_argument_group("splits (IEMOCAP and manifest)")
    g.add_argument("--fold", type=int, help="leave-one-session-out fold K in 1..5: session K test, session K%%5+1 valid")
    g.add_argument("--leave-one-speaker-out", metavar="SPEAKER",
                   help="test on SPEAKER (e.g. Ses01F), valid on the other speaker(s) of its session")
    g = p.add_argument_group("IEMOCAP")
    g.add_argument("--expect-count", type=int,
                   help="labelled 4-class utterances to expect (default: 5531 when all 5 sessions are present)")
    g.add_argument("--no-count-check", action="store_true", help="skip the count check (partial or edited tree)")
    g = p.add_argument_group("CMU-MOSI / CMU-MOSEI")
    g.add_argument("--folds", type=Path, help="standard folds: JSON {train,valid,test: [video ids]} or the SDK's *_std_folds.py")
    g.add_argument("--labels", type=Path, help="TSV/CSV of segment id + score in [-3, 3] (MOSI default: Raw/Labels/OpinionLevelSentiment.csv)")
    g = p.add_argument_group("manifest")
    g.add_argument("--label-column", default="label", help="manifest column holding the labels (e.g. sentiment)")
    args = p.parse_args(argv)
    if args.corpus in ("mosi", "mosei") and not args.folds:
        p.error(f"{args.corpus} needs --folds FILE (the CMU Multimodal SDK's standard folds)")
    if args.corpus in ("mosi", "mosei") and (args.fold or args.leave_one_speaker_out):
        p.error("--fold and --leave-one-speaker-out apply to iemocap and manifest; CMU corpora use --folds")
    if args.corpus != "iemocap" and (args.expect_count or args.no_count_check):
        p.error("--expect-count / --no-count-check apply to iemocap only")
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    common = dict(workers=args.workers, skip_bad=args.skip_bad, max_frames=args.max_frames)
    try:
        if args.corpus == "iemocap":
            report = prepare.prepare_iemocap(args.raw, args.pretrained, args.out, fold=args.fold,
                                             leave_one_speaker_out=args.leave_one_speaker_out,
                                             expect_count=args.expect_count, count_check=not args.no_count_check,
                                             **common)
        elif args.corpus in ("mosi", "mosei"):
            report = prepare.prepare_cmu(args.corpus, args.raw, args.pretrained, args.out, folds=args.folds,
                                         labels=args.labels, **common)
        else:
            report = prepare.prepare_manifest(args.raw, args.pretrained, args.out, label_column=args.label_column,
                                              fold=args.fold, leave_one_speaker_out=args.leave_one_speaker_out,
                                              **common)
    except (prepare.PreparationError, CorpusError, SplitError, FileNotFoundError, CheckpointLoadError,
            OutputPathError) as err:
        logging.getLogger("prepare_data").error("%s", err)
        return 1
    counts = report["counts"]
    print(f"{args.out}: {counts['kept']} utterances {counts['per_split']}, {counts['failed']} failed, "
          f"{report['truncated']['count']} truncated, speech {report['speech_tokenization']}")
    return 0

