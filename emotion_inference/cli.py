"""Emotion of new recordings with a fine-tuned ``ssl_emotion`` checkpoint (see docs/inference.md).

    python scripts/predict.py --checkpoint CKPT --pretrained PRETRAINED_DIR --audio X.wav --text "..."
    python scripts/predict.py --checkpoint CKPT --pretrained PRETRAINED_DIR --manifest FILE \\
        [--output out.jsonl|out.csv]
    python scripts/predict.py --checkpoint CKPT --pretrained PRETRAINED_DIR --timeline --audio LONG.wav \\
        [--transcript FILE.srt|FILE.vtt|FILE.json] [--output T.jsonl] [--plot T.png]

A manifest is a TSV with a header and the columns ``id``, ``audio`` (relative to the manifest's
folder or absolute), optionally ``start``/``end`` (seconds; empty: the whole file) and ``text``
(the contract's manifest.tsv, and a prepared DATA_DIR/manifest.tsv, qualify; other columns are
ignored). One output row per manifest row: ``id``, the prediction fields of the checkpoint's label
space (a probability per class and ``label``; a P(yes) per class; ``sentiment``; a value per
dimension) and ``error`` (empty unless that utterance failed, or its manifest row could not be read:
the run then goes on and exits with status 1 at the end). ``--output`` is written atomically, and
checked before any work. ``--explain`` adds an ``explanation`` (which modality decided,
docs/inference.md). ``--timeline`` writes JSON lines: a ``{"header": ...}`` line (the segmentation,
the voice activity detector), then one row per segment: ``start``, ``end``, ``text``,
``prediction``, ``decision``, ``error``.
"""
import argparse
import csv
import json
import logging
import sys
from contextlib import nullcontext
from pathlib import Path


from tqdm import tqdm

from emotion_core.files import OutputPathError, atomic_output, check_output_path
from emotion_core.numbers import parse_number
from emotion_core.tsv import TsvError, read_tsv
from emotion_data.audio import SAMPLE_RATE, load_audio
from emotion_inference.recognizer import LONG_AUDIO_POLICIES, EmotionRecognizer
from emotion_inference.timeline import Segmentation
from emotion_inference.transcripts import read_transcript
from emotion_inference.vad import VAD_CHOICES
from emotion_fairseq.safe_checkpoint import CheckpointLoadError

logger = logging.getLogger("predict")
CHUNK = 64  # manifest rows encoded, then predicted in length-sorted batches, at a time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, type=Path, help="fine-tuned checkpoint written by fairseq-train")
    p.add_argument("--pretrained", required=True, type=Path,
                   help="folder with the pretrained layout (dicts, vq-wav2vec, BPE; a wav2vec 2.0 / HuBERT model needs no "
                        "vq-wav2vec nor bert_kmeans/)")
    p.add_argument("--audio", help="one recording (any sample rate and channel count)")
    p.add_argument("--text", help="its transcript (not needed by a speech-only model)")
    p.add_argument("--manifest", type=Path, help="TSV of utterances: id, audio, [start, end], [text]")
    p.add_argument("--output", type=Path, help="write rows to this .jsonl or .csv file (default: JSON lines on stdout)")
    p.add_argument("--explain", action="store_true", help="add which modality decided each prediction")
    t = p.add_argument_group("timeline of a long recording (--timeline --audio LONG.wav)")
    t.add_argument("--timeline", action="store_true", help="emotion over time of --audio, segment by segment")
    t.add_argument("--transcript", type=Path, help="timed transcript of --audio: .srt, .vtt or .json")
    t.add_argument("--plot", type=Path, help="also draw the timeline into this .png")
    t.add_argument("--vad", choices=VAD_CHOICES, default="auto",
                   help="voice activity detector (auto: silero-vad when installed, else energy)")
    t.add_argument("--max-segment", type=float, default=Segmentation.max_segment_s,
                   help="longest segment in seconds; longer speech is cut into overlapping windows")
    t.add_argument("--overlap", type=float, default=Segmentation.overlap_s, help="overlap of those windows in seconds")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--long-audio", choices=LONG_AUDIO_POLICIES, default="truncate",
                   help="audio over 20.46 s (2046 frames, 327,360 samples): keep its start with a warning, or fail "
                        "that utterance")
    p.add_argument("--max-tokens", type=int, default=8192,
                   help="padded positions per batch (a waveform model's audio counts its samples)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on AVX512-bf16/AMX CPUs; ~1e-2 off)")
    p.add_argument("--no-calibration", action="store_true",
                   help="ignore the temperature kept beside the checkpoint (CKPT.calibration.json): raw probabilities")
    p.add_argument("--fast-tokenizer", action="store_true",
                   help="vq-wav2vec convolutions as matrix products (faster on CPU, BENCHMARKS.md; a token can "
                        "differ from fairseq's where two codewords tie to float rounding)")
    args = p.parse_args(argv)
    if args.timeline:
        if args.audio is None or args.manifest is not None or args.text is not None:
            p.error("--timeline takes --audio LONG.wav (and --transcript FILE), not --manifest or --text")
        if args.output is not None and args.output.suffix != ".jsonl":
            p.error(f"--timeline writes JSON lines: --output must end in .jsonl, got {args.output}")
        if args.plot is not None and args.plot.suffix != ".png":
            p.error(f"--plot must end in .png, got {args.plot}")
        try:
            args.segmentation = Segmentation(args.max_segment, args.overlap, args.vad)
        except ValueError as err:
            p.error(str(err))
        return args
    if args.transcript is not None or args.plot is not None:
        p.error("--transcript and --plot go with --timeline")
    if args.manifest is None and args.audio is None and args.text is None:
        p.error("pass --manifest FILE, or --audio and/or --text for one utterance")
    if args.manifest is not None and (args.audio is not None or args.text is not None):
        p.error("--manifest excludes --audio/--text")
    if args.output is not None and args.output.suffix not in (".jsonl", ".csv"):
        p.error(f"--output must end in .jsonl or .csv, got {args.output}")
    return args


def read_manifest(path):
    """Rows of a prediction manifest: dicts with line, id, audio (resolved), start, end, text and error.

    A row that cannot be read (invalid UTF-8, too many or too few cells, an empty id, a start or end
    that is not a number of seconds) keeps its place with its ``error`` set.
    """
    try:
        _, table = read_tsv(path, required=("id", "audio"))
    except TsvError as err:
        raise SystemExit(f"error: {err}")
    rows = []
    for r in table:
        cells, error = r.cells, r.error
        row = {"line": r.line, "id": cells.get("id") or f"line {r.line}", "audio": None, "start": None,
               "end": None, "text": cells.get("text"), "error": error}
        if error is None and not cells.get("id"):
            row["error"] = "empty id"
        if row["error"] is None:
            try:
                row["start"], row["end"] = (parse_number(cells[c], low=0.0, what=f"{c} (seconds)")
                                            if cells.get(c) else None for c in ("start", "end"))
            except ValueError as err:
                row["error"] = str(err)
            audio = Path(cells.get("audio", ""))
            row["audio"] = audio if audio.is_absolute() else path.parent / audio
        if row["error"] is not None:
            row["error"] = f"{path}:{r.line}: {row['error']}"
        rows.append(row)
    return rows


def encode_row(recognizer, row):
    """Model inputs of one manifest row (the segment start..end of its audio)."""
    audio = None
    if "speech" in recognizer.modalities:
        audio = load_audio(row["audio"], row["start"], row["end"])  # 16 kHz mono, as data preparation
    return recognizer.encode(audio, row["text"], SAMPLE_RATE if audio is not None else None)


def output_row(recognizer, row_id, result, explain, error=""):
    """One output row: id, the prediction fields, the explanation (with --explain) and error."""
    prediction = result["prediction"] if explain and result is not None else result
    row = {"id": row_id, **recognizer.prediction_fields(prediction)}
    if explain:
        row["explanation"] = None if result is None else result["explanation"]
    row["error"] = error
    return row


def predict_manifest(recognizer, rows, explain=False):
    """One output row per manifest row; a failed utterance gets its error message instead of fields."""
    out = []
    with tqdm(total=len(rows), desc="predict", unit="utt") as bar:
        for start in range(0, len(rows), CHUNK):
            chunk, encoded, errors = rows[start:start + CHUNK], [], {}
            for i, row in enumerate(chunk):
                try:
                    if row["error"]:
                        raise ValueError(row["error"])
                    encoded.append(encode_row(recognizer, row))
                except ValueError as err:  # AudioError included: bad audio, empty text, long audio policy
                    errors[i] = str(err)
                    encoded.append(None)
                bar.update(1)
            ok = [i for i, e in enumerate(encoded) if e is not None]
            preds = dict(zip(ok, recognizer.predict_encoded([encoded[i] for i in ok], explain)))
            for i, row in enumerate(chunk):
                out.append(output_row(recognizer, row["id"], preds.get(i), explain, errors.get(i, "")))
    return out


def write_rows(rows, path):
    """JSON lines (stdout when ``path`` is None) or CSV, by the file's extension; files are written atomically."""
    if path is None:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    with atomic_output(path, newline="" if path.suffix == ".csv" else None) as f:
        if path.suffix == ".csv":
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["id", "error"])
            writer.writeheader()
            writer.writerows({k: json.dumps(v) if isinstance(v, dict) else v for k, v in r.items()} for r in rows)
        else:
            for row in rows:
                f.write(json.dumps(row) + "\n")


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)s | %(name)s | %(message)s")
    for name in ("fairseq.models.wav2vec", "fairseq.models.hubert"):  # they log whole modules and configs
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # --plot: font searches at DEBUG
    args = parse_args(argv)
    try:
        inputs = [args.checkpoint, args.manifest, args.audio, args.transcript, *args.pretrained.rglob("*")]
        for path, what in ((args.output, "--output"), (args.plot, "--plot")):
            if path is not None:  # before any work: a bad output path must not cost a model load
                check_output_path(path, inputs, what=what)
        recognizer = EmotionRecognizer.from_checkpoint(args.checkpoint, args.pretrained, device=args.device,
                                                       long_audio=args.long_audio, max_tokens=args.max_tokens,
                                                       bf16=args.bf16, exact_tokens=not args.fast_tokenizer,
                                                       calibrated=not args.no_calibration)
    except (OutputPathError, CheckpointLoadError, FileNotFoundError, ValueError) as err:
        logger.error("%s", err)
        return 1
    logger.info("model reads %s; target type %s%s", " + ".join(recognizer.modalities), recognizer.target_type,
                "" if recognizer.temperature is None else f"; temperature {recognizer.temperature:.3f}")
    if recognizer.tokenizer is not None and not recognizer.tokenizer.exact:
        logger.info("--fast-tokenizer: vq-wav2vec convolutions as matrix products (tokens to float rounding)")
    if args.timeline:
        return write_timeline(recognizer, args)
    if args.manifest is not None:
        rows = predict_manifest(recognizer, read_manifest(args.manifest), args.explain)
    else:
        try:
            result = recognizer.predict(args.audio, args.text, explain=args.explain)
        except ValueError as err:
            raise SystemExit(f"error: {err}")
        rows = [output_row(recognizer, args.audio or "text", result, args.explain)]
    write_rows(rows, args.output)
    failed = [r for r in rows if r["error"]]
    if args.output is not None:
        logger.info("%d row(s) written to %s", len(rows), args.output)
    if failed:
        logger.error("%d of %d utterance(s) failed, e.g. %s: %s", len(failed), len(rows), failed[0]["id"],
                     failed[0]["error"])
        return 1
    return 0



def write_timeline(recognizer, args):
    """--timeline: the header line, then one JSON line per segment (stdout or --output), and --plot."""
    try:
        transcript = None if args.transcript is None else read_transcript(args.transcript)
        timeline = recognizer.timeline(args.audio, transcript, segmentation=args.segmentation, explain=args.explain)
    except ValueError as err:  # TranscriptError, AudioError, a fused model without a transcript
        logger.error("%s", err)
        return 1
    logger.info("%s: %.1f s, %d speech region(s) (%s VAD), %d segment(s)", args.audio, timeline.header["duration_s"],
                timeline.header["speech_regions"], timeline.header["vad"], timeline.header["segments"])
    rows = []
    with (atomic_output(args.output) if args.output is not None else nullcontext(sys.stdout)) as out:
        out.write(json.dumps({"header": timeline.header}) + "\n")
        for row in tqdm(timeline.rows, total=timeline.header["segments"], desc="timeline", unit="segment"):
            out.write(json.dumps(row) + "\n")
            rows.append({k: row[k] for k in ("start", "end", "prediction")})
    if args.plot is not None:
        from emotion_inference.timeline_plot import plot_timeline  # matplotlib only for --plot

        plot_timeline(timeline.header, rows, args.plot, recognizer.label_space)
    failed = [r for r in rows if r["prediction"] is None]
    if failed:
        logger.warning("%d of %d segment(s) have no prediction (see their error)", len(failed), len(rows))
    return 0
