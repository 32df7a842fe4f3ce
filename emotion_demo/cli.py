"""Build the demo assets offline: a synthetic emotional speech corpus and tiny stand-ins of the releases.

    python scripts/make_demo_assets.py --out demo_out/assets [--small] [--seed 0] [--engine auto]

writes ``OUT/corpus/`` (wav files + manifest.tsv, see docs/demo_corpus.md), ``OUT/pretrained/`` in the
layout of the released checkpoints (vq-wav2vec, Speech-BERT, RoBERTa, GPT-2 BPE, wav2vec 2.0, HuBERT)
and ``OUT/build_report.json`` (validation losses vs trivial baselines, timings). A second run on a
complete OUT returns at once.
"""
import argparse
import logging
import warnings

from emotion_demo.assets import build_demo_assets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--small", action="store_true",
                        help="small preset for tests: 160 utterances and shorter pretraining (about two minutes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus, the models and the training")
    parser.add_argument("--engine", choices=("auto", "espeak", "numpy"), default="auto",
                        help="speech synthesis: espeak-ng when installed (auto), or the pure-numpy fallback")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(levelname)s | %(name)s | %(message)s",
                        force=True)
    for name in ("fairseq", "fairseq_cli"):  # fairseq logs whole models and arguments at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="hydra")  # legacy checkpoints -> omegaconf: deprecation noise
    warnings.filterwarnings("ignore", message="(?s).*ConfigStore schema")
    report = build_demo_assets(args.out, preset="small" if args.small else "full", seed=args.seed,
                               engine=args.engine)
    for name in ("speech_bert", "roberta"):
        r = report[name]
        print(f"{name}: validation masked-LM loss {r['valid_loss_bits']:.3f} bits "
              f"(unigram baseline {r['unigram_bits']:.3f} bits)")
    w2v, hubert = report["wav2vec2"], report["hubert"]
    print(f"wav2vec2: validation contrastive loss {w2v['valid_contrastive_bits']:.3f} bits, accuracy "
          f"{w2v['valid_accuracy']:.3f} (uniform guess {w2v['uniform_bits']:.3f} bits, {w2v['chance_accuracy']:.3f})")
    print(f"hubert: validation masked-prediction loss {hubert['valid_masked_bits']:.3f} bits, accuracy "
          f"{hubert['valid_accuracy']:.3f} (unigram baseline {hubert['unigram_bits']:.3f} bits, majority cluster "
          f"{hubert['majority_accuracy']:.3f})")
