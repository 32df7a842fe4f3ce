"""Render the paper's Tables 1-5 from a results directory, with the paper's numbers and the differences.

A results directory holds one folder per table and one run folder per experiment, each with the
``results.json`` written by ``emotion_reproduce.experiment``::

    RESULTS/table1/{shallow_finetune,coattn_finetune,speech_only_finetune,text_only_finetune,
                    shallow_frozen,coattn_frozen}/results.json
    RESULTS/table2/shallow_finetune/   RESULTS/table3/shallow_finetune/
    RESULTS/table4/fold1..fold5/ (leave-one-session-out) and/or RESULTS/table4/split/ (a user's split file)
    RESULTS/table5/fold1..fold5/
    RESULTS/modern/<encoder>_binary, <encoder>_4class[_fold<K>]   beyond the paper: scripts/reproduce/modern.sh

Each model row shows our number (mean ± sample standard deviation over folds where there are several),
the paper's, and the difference ours - paper. Accuracies and F1 are percentages; MAE and Corr are raw.
"""
import json
import os
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from emotion_reproduce import paper
from emotion_reproduce.paper import PAPER_EMOTIONS

# Table 1's sub-tables: (heading, [(row label, run name)]); a run shared by two sub-tables is run once.
TABLE1_LAYOUT = [
    ("(5.1) Shallow-Fusion vs Co-Attentional Fusion (SSL models fine-tuned)",
     [("Co-Attentional-Fusion", "coattn_finetune"), ("Shallow-Fusion (best performing model)", "shallow_finetune")]),
    ("(5.2) Uni-modal comparison",
     [("Speech - Speech-BERT only", "speech_only_finetune"), ("Text - RoBERTa only", "text_only_finetune")]),
    ("(5.3) Fine-tune vs frozen (using Shallow-Fusion)",
     [("Frozen SSL", "shallow_frozen"), ("Fine-tune SSL (same as best performing model)", "shallow_finetune")]),
    ("(5.4) Shallow-Fusion vs Co-Attentional Fusion (SSL models frozen)",
     [("Co-Attentional-Fusion (frozen SSL)", "coattn_frozen"), ("Shallow-Fusion (frozen SSL)", "shallow_frozen")]),
]
TABLE1_RUNS = sorted({name for _, rows in TABLE1_LAYOUT for _, name in rows})
OURS = "Shallow-Fusion of SSL models (ours)"


@dataclass
class Column:
    """One table column: its header, how to read our value from a run's metrics, the paper's key."""
    header: str
    get: Callable[[dict], float]
    key: Optional[tuple] = None  # path into a paper.TABLEn row; None: no paper number
    percent: bool = True  # fractions shown x100 with 2 decimals; else raw with 3 decimals


def _path(d, key):
    for k in key:
        d = d[k]
    return d


def binary_columns():
    """Happy Acc, Happy F1, Sad Acc, ... (the paper's order) from score_predictions' iemocap_binary metrics."""
    return [Column(f"{e.capitalize()} {m.capitalize() if m == 'acc' else 'F1'}",
                   lambda metrics, e=e, m=m: metrics[e][m], (e, m))
            for e in PAPER_EMOTIONS for m in ("acc", "f1")]


def regression_columns():
    """Acc7, Acc2, F1, MAE (paper) then Acc5, Corr and the with-zero binary scores (ours only)."""
    return [Column("Acc7", lambda m: m["acc7"], ("acc7",)), Column("Acc2", lambda m: m["acc2_nonzero"], ("acc2",)),
            Column("F1", lambda m: m["f1_nonzero"], ("f1",)), Column("MAE", lambda m: m["mae"], ("mae",), False),
            Column("Acc5", lambda m: m["acc5"]), Column("Corr", lambda m: m["corr"], None, False),
            Column("Acc2 (with 0)", lambda m: m["acc2_haszero"]), Column("F1 (with 0)", lambda m: m["f1_haszero"])]


def multiclass_columns():
    """Per-class accuracy in the paper's order, unweighted accuracy (paper), weighted accuracy (ours only)."""
    return ([Column(f"{e.capitalize()} Acc", lambda m, e=e: m["per_class"][e], (e,)) for e in PAPER_EMOTIONS]
            + [Column("UA", lambda m: m["ua"], ("ua",)), Column("WA", lambda m: m["wa"])])


# ------------------------------------------------------------------------------------------- loading
def load_results(results_dir):
    """``{table: {run name: [results dict per seed]}}`` of ``RESULTS/<table>/<run>/results.json`` (one seed)
    and ``RESULTS/<table>/<run>/seed<S>/results.json`` (a configuration run over several seeds)."""
    root, out = Path(results_dir), {}
    found = [(p, p.parent) for p in sorted(root.glob("*/*/results.json"))]
    found += [(p, p.parent.parent) for p in sorted(root.glob("*/*/seed*/results.json"))]
    for path, config in found:
        results = json.loads(path.read_text())
        results["_dir"], results["_config"] = str(path.parent), config.name
        out.setdefault(config.parent.name, {}).setdefault(config.name, []).append(results)
    return out


def folds(runs):
    """Every run (every seed) of the ``foldK`` configurations of a table, in fold order."""
    names = sorted((n for n in runs if re.fullmatch(r"fold\d+", n)), key=lambda n: int(n[4:]))
    return [r for n in names for r in runs[n]]


# ------------------------------------------------------------------------------------------- cells
def _scale(value, col):
    return value * 100 if col.percent else value


def _fmt(value, col):
    return f"{value:.2f}" if col.percent else f"{value:.3f}"


def our_cell(runs, col, metrics_key="metrics", intervals=None):
    """Our value: a single run's, or ``mean ± std`` over runs (seeds, folds); '—' when not run; None-safe.

    ``metrics_key``: the results' metrics to read (``metrics_exclude_zero``: regression scored without
    the zero-labelled segments). ``intervals``: the runs' bootstrap 95% intervals as a metrics tree
    (:func:`interval_tree`), appended as ``[low, high]``."""
    values = []
    for r in runs:
        try:
            values.append(_scale(float(col.get(r[metrics_key])), col))
        except (KeyError, TypeError, ValueError):
            pass
    if not values:
        return "—", None
    mean = statistics.fmean(values)
    text = _fmt(mean, col) if len(values) == 1 else f"{_fmt(mean, col)} ± {_fmt(statistics.stdev(values), col)}"
    if intervals is not None:
        try:
            low, high = (_scale(v, col) for v in col.get(intervals))
            text += f" [{_fmt(low, col)}, {_fmt(high, col)}]"
        except (KeyError, TypeError, ValueError):
            pass
    return text, mean


def interval_tree(runs, exclude_zero=False):
    """The bootstrap 95% intervals of ``runs`` (results dicts) as a tree shaped like their metrics."""
    from emotion_eval.bootstrap import summarize
    from emotion_eval.runs import load_run

    def leaves(tree):
        return {k: (leaves(v) if "ci95" not in v else v["ci95"]) for k, v in tree.items()}

    return leaves(summarize([load_run(r["_dir"], exclude_zero=exclude_zero) for r in runs])["metrics"])


def paper_value(paper_row, col):
    """The paper's number for a column, or None."""
    if paper_row is None or col.key is None:
        return None
    try:
        return _path(paper_row, col.key)
    except KeyError:
        return None


def diff_cell(mean, ref, col):
    """``ours - paper`` with an explicit sign, '—' when either is missing."""
    if mean is None or ref is None:
        return "—"
    return ("+" if mean - ref >= 0 else "-") + _fmt(abs(mean - ref), col)


def render_rows(columns, rows, intervals=False):
    """Markdown table. rows: ("section", text) | ("paper", label, paper_row) | ("ours", label, runs, paper_row)
    | ("ours", label, runs, paper_row, metrics_key); the paper's row and Δ are shown when paper_row is set;
    ``intervals``: our cells also show the runs' bootstrap 95% interval."""
    lines = ["| Algorithm | | " + " | ".join(c.header for c in columns) + " |",
             "|---|---|" + "---:|" * len(columns)]
    empty = " |" * len(columns)
    for row in rows:
        if row[0] == "section":
            lines.append(f"| **{row[1]}** | |{empty}")
        elif row[0] == "paper":
            cells = [("—" if (v := paper_value(row[2], c)) is None else _fmt(v, c)) for c in columns]
            lines.append(f"| {row[1]} | paper | " + " | ".join(cells) + " |")
        else:
            _, label, runs, paper_row, *key = row
            tree = interval_tree(runs, key == ["metrics_exclude_zero"]) if intervals and runs else None
            ours = [our_cell(runs, c, *(key or ["metrics"]), intervals=tree) for c in columns]
            lines.append(f"| {label} | ours | " + " | ".join(cell for cell, _ in ours) + " |")
            if paper_row is not None:
                refs = [paper_value(paper_row, c) for c in columns]
                lines.append("| | paper | " + " | ".join("—" if v is None else _fmt(v, c)
                                                          for v, c in zip(refs, columns)) + " |")
                lines.append("| | Δ (ours − paper) | " + " | ".join(
                    diff_cell(mean, v, c) for (_, mean), v, c in zip(ours, refs, columns)) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- notes
def _settings_note(runs):
    """One line on the settings the runs used (preset, lr, epochs, batch), from their results.json."""
    seen = []
    for r in runs:
        fs = r.get("settings", {}).get("fairseq", {})
        plan = r.get("schedule", {})
        preset = r.get("meta", {}).get("preset", "paper")
        workers = max(r.get("gpus", 0), 1)
        effective = plan.get("batch_size", 0) * plan.get("update_freq", 0) * workers
        text = (f"preset `{preset}`: lr {fs.get('lr', '?')}, {plan.get('max_epoch', '?')} epochs, effective batch "
                f"{effective} = batch {plan.get('batch_size', '?')} x update-freq {plan.get('update_freq', '?')} x "
                f"{workers} {'GPU' if r.get('gpus', 0) else 'CPU process'}, "
                f"warm-up {plan.get('warmup_updates', '?')}/{plan.get('total_num_update', '?')} updates, "
                f"dropout {fs.get('dropout', '?')}, seed {r.get('seed')}")
        if text not in seen:
            seen.append(text)
    notes = ["Settings: " + "; ".join(seen) + "." if seen else "Settings: no finished run."]
    if any(r.get("meta", {}).get("preset", "paper").startswith("demo") for r in runs):
        notes.append("Demo preset (configs/tables/demo*.yaml): tiny stand-in models on the synthetic demo corpus, "
                     "trained with a larger lr than the paper and their own number of epochs (paper: "
                     + paper.SETTINGS + "); "
                     "the numbers are not comparable with the paper's, only the qualitative checks are.")
    protocols = sorted({r.get("meta", {}).get("protocol") for r in runs} - {None})
    if protocols:
        notes.append("Protocol: " + "; ".join(protocols) + ".")
    return notes


def _plot_links(named_runs, link_root):
    """``name: [curves](...), [confusion](...)`` for each run, paths relative to ``link_root``."""
    parts = []
    for name, r in named_runs:
        links = [f"[{kind}]({os.path.relpath(Path(r['_dir']) / rel, link_root)})"
                 for kind, rel in sorted(r.get("plots", {}).items()) if "_dir" in r]
        if links:
            parts.append(f"{name} " + " ".join(links))
    return "Plots: " + "; ".join(parts) if parts else "Plots: none."


def _block(title, caption, columns, rows, named_runs, link_root, intervals=False):
    runs = [r for _, r in named_runs]
    body = [f"## {title}", "", caption, "", render_rows(columns, rows, intervals), ""]
    body += [f"- {note}" for note in _settings_note(runs)]
    body += [f"- {_plot_links(named_runs, link_root)}", ""]
    return "\n".join(body)


# ------------------------------------------------------------------------------------------- tables
def table1(results, link_root=".", intervals=False):
    """Table 1: the four IEMOCAP ablations, per-emotion binary accuracy and F1."""
    runs = results.get("table1", {})
    rows = []
    for heading, members in TABLE1_LAYOUT:
        rows.append(("section", heading))
        for label, name in members:
            rows.append(("ours", label, runs.get(name, []), paper.TABLE1[name]))
    named = [(_run_label(n, r, runs[n]), r) for n in TABLE1_RUNS if n in runs for r in runs[n]]
    return _block("Table 1: ablations on IEMOCAP (sessions 1-3 train, 4 valid, 5 test)",
                  "Binary accuracy and F1 per emotion (%).", binary_columns(), rows, named, link_root, intervals)


def _regression_table(number, dataset, paper_rows, results, link_root, intervals=False):
    runs = results.get(f"table{number}", {})
    ours = runs.get("shallow_finetune", [])
    rows = [("paper", label, values) for label, values in paper_rows.items() if label != "ours"]
    rows.append(("ours", f"{OURS}, non-zero segments (the original code's protocol; the paper's numbers)", ours,
                 paper_rows["ours"], "metrics_exclude_zero"))
    rows.append(("ours", f"{OURS}, all segments (MulT/MMSA protocol: Acc7 and MAE on every segment)", ours, None))
    return _block(f"Table {number}: {dataset}", "Acc7, Acc2, F1 (%), MAE; also Acc5, Pearson correlation and the "
                  "binary scores including zeros. Two scoring protocols of the same predictions: the paper's "
                  "numbers come from the original code's binary mode, which scored every metric on the segments "
                  "whose label is not 0 (Δ is against that row); MulT and MMSA compute Acc7 and MAE on every "
                  "segment, Acc2/F1 without and with the zeros (docs/reproduce.md, protocols).",
                  regression_columns(), rows, _named(runs), link_root, intervals)


def table2(results, link_root=".", intervals=False):
    """Table 2: CMU-MOSEI sentiment regression with shallow fusion."""
    return _regression_table(2, "CMU-MOSEI", paper.TABLE2, results, link_root, intervals)


def table3(results, link_root=".", intervals=False):
    """Table 3: CMU-MOSI sentiment regression with shallow fusion."""
    return _regression_table(3, "CMU-MOSI", paper.TABLE3, results, link_root, intervals)


def table4(results, link_root=".", intervals=False):
    """Table 4: IEMOCAP binary accuracy and F1; leave-one-session-out folds and/or a user's split file."""
    runs = results.get("table4", {})
    rows = [("paper", label, values) for label, values in paper.TABLE4.items() if label != "ours"]
    fold_runs = folds(runs)
    if fold_runs:
        rows.append(("ours", f"{OURS}, leave-one-session-out, {_over_folds(fold_runs)}", fold_runs,
                     paper.TABLE4["ours"]))
    if "split" in runs:
        rows.append(("ours", f"{OURS}, split file", runs["split"], paper.TABLE4["ours"]))
    if not fold_runs and "split" not in runs:
        rows.append(("ours", OURS, [], paper.TABLE4["ours"]))
    return _block("Table 4: IEMOCAP, binary accuracy and F1", "Binary accuracy and F1 per emotion (%). The paper "
                  "followed the MulT/ICCN split (CMU-SDK segment ids); our default is leave-one-session-out.",
                  binary_columns(), rows, _named(runs), link_root, intervals)


def table5(results, link_root=".", intervals=False):
    """Table 5: IEMOCAP 4-class per-class accuracy and unweighted accuracy, mean over LOSO folds."""
    runs = results.get("table5", {})
    fold_runs = folds(runs) or runs.get("split", [])
    rows = [("paper", label, values) for label, values in paper.TABLE5.items() if label != "ours"]
    label = f"{OURS}, {_over_folds(fold_runs)}" if fold_runs else OURS
    rows.append(("ours", label, fold_runs, paper.TABLE5["ours"]))
    paper_mean = statistics.fmean(paper.TABLE5["ours"][e] for e in PAPER_EMOTIONS)
    return _block("Table 5: IEMOCAP, 4-class accuracy", "Per-class accuracy (recall) and unweighted accuracy "
                  "(mean per-class recall), %; WA is the weighted (overall) accuracy. The paper's UA "
                  f"({paper.TABLE5['ours']['ua']}) is not the mean of its own per-class values ({paper_mean:.4f}); "
                  "our UA is the mean of ours.",
                  multiclass_columns(), rows, _named(runs), link_root, intervals)


def _run_label(name, run, seeds):
    """A run's name in the plot links: the configuration's, with its seed when it has several."""
    return f"{name} (seed {run.get('seed')})" if len(seeds) > 1 else name


def _named(runs):
    """(label, results) of every run of a table, for the notes and the plot links."""
    return [(_run_label(n, r, rs), r) for n, rs in sorted(runs.items()) for r in rs]


def _over_folds(fold_runs):
    """'mean ± std over 5 folds', with the seeds when there are several, or 'fold 5 only'."""
    n_folds = len({r["_config"] for r in fold_runs})
    seeds = len(fold_runs) // max(n_folds, 1)
    if n_folds == 1:
        where = f"fold {fold_runs[0].get('meta', {}).get('fold', fold_runs[0]['_config'][4:])} only"
        return where if seeds == 1 else f"{where}, mean ± std over {seeds} seeds"
    return f"mean ± std over {n_folds} folds" + (f" x {seeds} seeds" if seeds > 1 else "")


# The modern table's speech encoders (run name prefixes), in row order, with their row labels.
MODERN_ENCODERS = [("speech_bert", "Speech-BERT over vq-wav2vec tokens (the paper's)"),
                   ("wav2vec2", "wav2vec 2.0 over 16 kHz audio"), ("hubert", "HuBERT over 16 kHz audio")]


def modern(results, link_root=".", intervals=False):
    """Beyond the paper: the shallow fusion with each speech encoder, under Table 1's and Table 5's protocols."""
    runs = results.get("modern", {})

    def protocol_runs(encoder, suffix):
        names = sorted((n for n in runs if n == f"{encoder}_{suffix}" or n.startswith(f"{encoder}_{suffix}_fold")),
                       key=lambda n: int(n.rsplit("fold", 1)[1]) if "_fold" in n else 0)
        return [r for n in names for r in runs[n]]

    binary_rows = [("paper", "Speech-BERT, Shallow-Fusion (paper, Table 1)", paper.TABLE1["shallow_finetune"])]
    binary_rows += [("ours", label, protocol_runs(enc, "binary"), None) for enc, label in MODERN_ENCODERS]
    four_rows = [("paper", "Speech-BERT, Shallow-Fusion (paper, Table 5)", paper.TABLE5["ours"])]
    for enc, label in MODERN_ENCODERS:
        found = protocol_runs(enc, "4class")
        where = _over_folds(found) if any("fold" in r.get("meta", {}) for r in found) else "one split"
        four_rows.append(("ours", f"{label}, {where}" if found else label, found, None))
    named = _named(runs)
    caption = ("The paper's shallow fusion with RoBERTa, jointly fine-tuned, with each speech encoder; the same "
               "data, settings and metrics for every row, so that only the speech encoder differs.")
    return "\n".join([
        _block("Modern speech encoders: Table 1's protocol", caption + " Binary accuracy and F1 per emotion (%).",
               binary_columns(), binary_rows, [(n, r) for n, r in named if "_binary" in r["_config"]], link_root,
               intervals),
        _block("Modern speech encoders: Table 5's protocol", caption + " Per-class accuracy (recall), unweighted "
               "and weighted accuracy (%).", multiclass_columns(), four_rows,
               [(n, r) for n, r in named if "_4class" in r["_config"]], link_root, intervals)])


TABLES = {"1": table1, "2": table2, "3": table3, "4": table4, "5": table5, "m": modern}


def render(results_dir, tables="12345m", link_root=".", intervals=False):
    """All requested tables of a results directory as one Markdown document (``intervals``: with the
    bootstrap 95% interval of each of our cells, computed from the runs' predictions)."""
    results = load_results(results_dir)
    parts = [f"# Results in {results_dir}", ""]
    parts += [TABLES[t](results, link_root, intervals) for t in tables]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------- checks
CLAIMS = [("fusion_beats_unimodal", "shallow_finetune", ["speech_only_finetune", "text_only_finetune"]),
          ("finetune_beats_frozen", "shallow_finetune", ["shallow_frozen"])]
CHECK_METRIC = "mean_acc"  # mean over the four emotions of the per-emotion binary accuracy
SIGNIFICANCE = 0.05  # reported, not required: the demo's test split is small


def checks(results_dir, resamples=1000):
    """The paper's qualitative claims on Table 1's runs: [(name, passed, figures)], each comparison paired.

    fusion_beats_unimodal: shallow fusion (fine-tuned) > speech-only and > text-only; finetune_beats_frozen:
    fine-tuned shallow fusion > frozen shallow fusion; on the mean binary accuracy over the four emotions
    (each side's mean over its seeds), compared on the same test utterances (emotion_eval.compare). A
    claim passes when every difference is positive; its interval, p-value and test are reported. A
    missing run fails its check.
    """
    from emotion_eval.compare import compare
    from emotion_eval.runs import load_runs

    table = Path(results_dir) / "table1"
    out = []
    for name, best, others in CLAIMS:
        missing = [n for n in (best, *others) if not list((table / n).glob("**/results.json"))]
        if missing:
            out.append((name, False, "missing runs: " + ", ".join(missing)))
            continue
        found = [compare(load_runs(table / best), load_runs(table / other), CHECK_METRIC, resamples)
                 for other in others]
        ok = all(c["difference"] > 0 for c in found)
        figures = "; ".join(
            f"{best} {100 * c['a']:.2f} vs {other} {100 * c['b']:.2f}: {100 * c['difference']:+.2f} "
            f"[95% CI {100 * c['ci95'][0]:+.2f}, {100 * c['ci95'][1]:+.2f}], p = {c['p_value']:.3g} "
            f"({'significant' if c['p_value'] < SIGNIFICANCE else 'not significant'} at {SIGNIFICANCE}; "
            f"{c['test']}, {c['n_utterances']} utterances, {c['n_runs'][0]} vs {c['n_runs'][1]} runs)"
            for other, c in zip(others, found))
        out.append((name, ok, figures))
    return out


def check_lines(results):
    """``CHECK name: PASS|FAIL (figures)`` lines."""
    return [f"CHECK {name}: {'PASS' if ok else 'FAIL'} ({figures}; mean binary accuracy over 4 emotions, %)"
            for name, ok, figures in results]
