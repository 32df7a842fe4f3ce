"""Prepare a corpus into the data directory the ``multimodal_emotion`` task reads.

    python scripts/prepare_data.py {iemocap,mosi,mosei,msp-podcast,meld,manifest} --raw PATH \\
        --pretrained PRETRAINED_DIR --out DATA_DIR [--workers N] [--skip-bad] [--modalities speech]
        [split options] [corpus options] [label options]

See docs/data_preparation.md for the files each corpus adapter reads, the split and label options
and the report.
"""
import argparse
import logging
from pathlib import Path

from emotion_core.files import OutputPathError
from emotion_core.labels import DATA_KINDS, LabelError, read_label_map
from emotion_core.manifest import CorpusError
from emotion_core.numbers import parse_number
from emotion_data import prepare
from emotion_data.corpora import meld, msp_podcast
from emotion_data.labels import LabelOptions
from emotion_data.splits import SplitError
from emotion_fairseq.safe_checkpoint import CheckpointLoadError


MODALITY_CHOICES = {"both": prepare.MODALITIES, "speech": ("speech",)}  # --modalities


def _names(text):
    names = tuple(n.strip() for n in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def _range(text):
    try:
        low, high = (parse_number(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH (two numbers), got {text!r}") from None
    return low, high


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", choices=["iemocap", "mosi", "mosei", "msp-podcast", "meld", "manifest"],
                   help="corpus adapter")
    p.add_argument("--raw", required=True, type=Path,
                   help="IEMOCAP_full_release folder; CMU-MOSI/MOSEI release folder (holding Raw/); MSP-Podcast "
                        "release folder (holding Audios/); MELD.Raw folder; or a manifest.tsv")
    p.add_argument("--pretrained", required=True, type=Path, help="folder with the pretrained layout")
    p.add_argument("--out", required=True, type=Path, help="data directory to write")
    p.add_argument("--workers", type=int, default=1, help="speech-tokenization processes")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave failed utterances out (listed in the report and dropped.tsv) instead of failing")
    p.add_argument("--max-frames", type=int, default=prepare.MAX_FRAMES,
                   help="10 ms frames of speech kept per utterance: tokens, or x 160 samples of audio (default "
                        "2046 = 20.46 s)")
    p.add_argument("--speech-input", choices=prepare.SPEECH_INPUTS, default="tokens",
                   help="tokens: vq-wav2vec tokens for Speech-BERT (needs vq-wav2vec_kmeans.pt and bert_kmeans/dict.txt); "
                        "waveform: the 16 kHz mono audio for wav2vec 2.0 / HuBERT / data2vec encoders "
                        "(DATA_DIR/audio/); both: the two, so that either kind of model trains on the directory")
    p.add_argument("--allow-speaker-overlap", action="store_true",
                   help="go on when a known speaker is in both the train and the test split (recorded in the report)")
    p.add_argument("--modalities", choices=MODALITY_CHOICES, default="both",
                   help="speech: a speech-only data directory (no text/; transcripts not needed; trains "
                        "ssl_emotion_speech_only)")
    g = p.add_argument_group("splits (IEMOCAP and manifest)")
    g.add_argument("--fold", type=int, help="leave-one-session-out fold K in 1..5: session K test, session K%%5+1 valid")
    g.add_argument("--leave-one-speaker-out", metavar="SPEAKER",
                   help="test on SPEAKER (e.g. Ses01F), valid on the other speaker(s) of its session")
    g = p.add_argument_group("IEMOCAP, MSP-Podcast, MELD")
    g.add_argument("--expect-count", type=int,
                   help="IEMOCAP: labelled 4-class utterances to expect (default: 5531 when all 5 sessions are present)")
    g.add_argument("--no-count-check", action="store_true",
                   help="skip the check of the release's counts against the documented figures (partial or edited tree)")
    g = p.add_argument_group("CMU-MOSI / CMU-MOSEI")
    g.add_argument("--folds", type=Path, help="standard folds: JSON {train,valid,test: [video ids]} or the SDK's *_std_folds.py")
    g.add_argument("--labels",
                   help="CMU: TSV/CSV of segment id + score in [-3, 3] (MOSI default: Raw/Labels/OpinionLevelSentiment.csv); "
                        f"MELD: {' or '.join(meld.LABEL_SETS)} (default emotion)")
    g.add_argument("--drop-zero", choices=prepare.DROP_ZERO, default="none",
                   help="leave out the segments scored exactly 0: from no split (default), from valid and test "
                        "(eval), or from every split (all), as the original code's binary mode did")
    g = p.add_argument_group("MSP-Podcast")
    g.add_argument("--task", choices=("categorical", "dimensional"),
                   help="categorical (default): the 8 primary emotions; dimensional: arousal, valence, dominance (1-7)")
    g.add_argument("--test-set", choices=msp_podcast.TEST_SETS,
                   help="the Split_Set that becomes the test split (default Test1; the others are left out)")
    g = p.add_argument_group("labels (IEMOCAP and manifest; written to DATA_DIR/labels.json)")
    g.add_argument("--label-column", default="label", help="manifest column holding the labels (e.g. sentiment)")
    g.add_argument("--label-columns", type=_names, metavar="A,B,C",
                   help="manifest columns of dimensional labels, one per dimension (e.g. arousal,valence,dominance)")
    g.add_argument("--label-kind", choices=DATA_KINDS,
                   help="default: dimensional with --label-columns, regression when most labels are numbers, "
                        "else categorical")
    g.add_argument("--classes", type=_names, metavar="A,B,C",
                   help="categorical: keep these classes, in this order (the model's output order); other labels "
                        "are left out and counted. Default: every class found, sorted (IEMOCAP: "
                        "neutral,happy,sad,angry)")
    g.add_argument("--label-map", metavar="FILE|none",
                   help="rename or merge classes first: a JSON object or from<TAB>to lines (IEMOCAP default: "
                        "excited -> happy; 'none' for no map)")
    g.add_argument("--label-range", type=_range, metavar="LOW,HIGH",
                   help="regression / dimensional: the scores' inclusive range (a score outside is an error)")
    args = p.parse_args(argv)
    if args.corpus in ("mosi", "mosei") and not args.folds:
        p.error(f"{args.corpus} needs --folds FILE (the CMU Multimodal SDK's standard folds)")
    if args.corpus in ("mosi", "mosei") and (args.fold or args.leave_one_speaker_out):
        p.error("--fold and --leave-one-speaker-out apply to iemocap and manifest; CMU corpora use --folds")
    if args.corpus not in ("mosi", "mosei") and args.drop_zero != "none":
        p.error("--drop-zero applies to mosi and mosei")
    if args.corpus != "manifest" and (args.label_columns or args.label_column != "label"):
        p.error("--label-column / --label-columns choose a manifest's columns; the other corpora have their own labels")
    if args.corpus in ("msp-podcast", "meld") and (args.fold or args.leave_one_speaker_out):
        p.error(f"{args.corpus} has the release's own splits; --fold and --leave-one-speaker-out apply to iemocap "
                "and manifest")
    if args.corpus in ("msp-podcast", "meld") and args.allow_speaker_overlap:
        p.error(f"{args.corpus} has the release's own splits: their speaker overlap is reported, never refused")
    if args.corpus != "msp-podcast" and (args.task or args.test_set):
        p.error("--task and --test-set apply to msp-podcast")
    if args.corpus != "iemocap" and args.expect_count:
        p.error("--expect-count applies to iemocap only")
    if args.corpus not in ("iemocap", "msp-podcast", "meld") and args.no_count_check:
        p.error("--no-count-check applies to iemocap, msp-podcast and meld")
    if args.corpus == "meld" and args.labels not in (None, *meld.LABEL_SETS):
        p.error(f"meld --labels must be {' or '.join(meld.LABEL_SETS)}, got {args.labels!r}")
    if args.corpus not in ("mosi", "mosei", "meld") and args.labels:
        p.error("--labels applies to mosi, mosei and meld")
    label_flags = [f for f in ("label_columns", "label_kind", "classes", "label_map", "label_range") if getattr(args, f)]
    if args.corpus in ("mosi", "mosei", "msp-podcast", "meld") and label_flags:
        p.error(f"{args.corpus} has the release's label set; --{label_flags[0].replace('_', '-')} "
                "applies to iemocap and manifest")
    return args


def label_options(args):
    """The LabelOptions of the command line (IEMOCAP: its defaults where no option is given)."""
    default = prepare.IEMOCAP_LABELS if args.corpus == "iemocap" else LabelOptions()
    if args.label_map is None:
        label_map = default.label_map
    elif args.label_map == "none":
        label_map = ()
    else:
        label_map = tuple(read_label_map(args.label_map).items())
    return LabelOptions(kind=args.label_kind, classes=args.classes or default.classes, label_map=label_map,
                        value_range=args.label_range, dimensions=args.label_columns or ())


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    common = dict(workers=args.workers, skip_bad=args.skip_bad, max_frames=args.max_frames,
                  modalities=MODALITY_CHOICES[args.modalities], speech_input=args.speech_input)
    guarded = dict(common, allow_speaker_overlap=args.allow_speaker_overlap)  # splits made here: overlap checked
    try:
        if args.corpus == "iemocap":
            report = prepare.prepare_iemocap(args.raw, args.pretrained, args.out, fold=args.fold,
                                             leave_one_speaker_out=args.leave_one_speaker_out,
                                             labels=label_options(args), expect_count=args.expect_count,
                                             count_check=not args.no_count_check, **guarded)
        elif args.corpus in ("mosi", "mosei"):
            report = prepare.prepare_cmu(args.corpus, args.raw, args.pretrained, args.out, folds=args.folds,
                                         labels=args.labels and Path(args.labels), drop_zero=args.drop_zero,
                                         **guarded)
        elif args.corpus == "msp-podcast":
            report = prepare.prepare_msp_podcast(args.raw, args.pretrained, args.out,
                                                 task=args.task or "categorical", test_set=args.test_set or "Test1",
                                                 count_check=not args.no_count_check, **common)
        elif args.corpus == "meld":
            report = prepare.prepare_meld(args.raw, args.pretrained, args.out, labels=args.labels or "emotion",
                                          count_check=not args.no_count_check, **common)
        else:
            report = prepare.prepare_manifest(args.raw, args.pretrained, args.out,
                                              label_columns=args.label_columns or (args.label_column,),
                                              labels=label_options(args), fold=args.fold,
                                              leave_one_speaker_out=args.leave_one_speaker_out, **guarded)
    except (prepare.PreparationError, CorpusError, SplitError, FileNotFoundError, CheckpointLoadError,
            OutputPathError, LabelError) as err:
        logging.getLogger("prepare_data").error("%s", err)
        return 1
    counts = report["counts"]
    speech = {k: report[k] for k in ("speech_tokenization", "audio") if report.get(k)}
    print(f"{args.out}: {counts['kept']} utterances {counts['per_split']}, {counts['failed']} failed, "
          f"{report['truncated']['count']} truncated, labels {report['labels']}, speech {speech}")
    return 0

