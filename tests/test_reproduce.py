"""Reproduction scripts: table rendering, settings and schedule, resume/skip, and the reduced demo end to end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

from emotion_core.label_spaces import label_space
from emotion_reproduce import cli, experiment, tables
from emotion_reproduce.paper import EMOTIONS


# ------------------------------------------------------------------------------------------- helpers
def binary_metrics(acc, f1=None):
    """iemocap_binary metrics with the same accuracy (and F1) for every emotion, or per-emotion dicts."""
    acc = acc if isinstance(acc, dict) else {e: acc for e in EMOTIONS}
    f1 = f1 if isinstance(f1, dict) else {e: (acc[e] if f1 is None else f1) for e in EMOTIONS}
    return {e: {"acc": acc[e], "f1": f1[e]} for e in EMOTIONS}


def write_results(root, table, name, metrics, **extra):
    run_dir = Path(root) / table / name
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {"table": table, "name": name, "metrics": metrics, "seed": 1, "gpus": 0,
               "settings": {"fairseq": {"lr": 0.001, "dropout": 0.1}},
               "schedule": {"max_epoch": 3, "batch_size": 4, "update_freq": 4, "warmup_updates": 1,
                            "total_num_update": 9},
               "meta": {"preset": "demo", "protocol": "test protocol"},
               "plots": {"curves": "curves.png", "confusion": "confusion.png"}, **extra}
    (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


def row_cells(markdown, label, kind="ours"):
    """Cells (after the label and kind columns) of the first row with ``label`` and ``kind``."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == label and cells[1] == kind:
            return cells[2:], lines, i
    raise AssertionError(f"no row {label!r} / {kind!r} in:\n{markdown}")


def following(lines, i, kind):
    """Cells of the ``kind`` row (paper, Δ ...) right under row i."""
    for line in lines[i + 1:i + 3]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[1].startswith(kind):
            return cells[2:]
    raise AssertionError(f"no {kind} row under {lines[i]}")


# ------------------------------------------------------------------------------------------- tables
def test_emotions_match_the_plugin():
    from emotion_core.labels import PAPER_CLASSES as PLUGIN_EMOTIONS

    assert EMOTIONS == PLUGIN_EMOTIONS


def test_table1_cells_paper_and_difference(tmp_path):
    write_results(tmp_path, "table1", "shallow_finetune", binary_metrics(
        {"neutral": 0.80, "happy": 0.85, "sad": 0.90, "angry": 0.95}, 0.5))
    md = tables.table1(tables.load_results(tmp_path), link_root=tmp_path)
    cells, lines, i = row_cells(md, "Shallow-Fusion (best performing model)")
    # Columns follow the paper: Happy Acc, Happy F1, Sad Acc, Sad F1, Angry Acc, Angry F1, Neutral Acc, Neutral F1.
    assert cells == ["85.00", "50.00", "90.00", "50.00", "95.00", "50.00", "80.00", "50.00"]
    assert following(lines, i, "paper") == ["84.13", "83.75", "90.89", "90.70", "93.56", "93.62", "81.55", "81.05"]
    assert following(lines, i, "Δ")[:2] == ["+0.87", "-33.75"]
    # Shared run: (5.3) "Fine-tune SSL" shows the same numbers; runs not done show dashes.
    assert row_cells(md, "Fine-tune SSL (same as best performing model)")[0] == cells
    assert row_cells(md, "Frozen SSL")[0] == ["—"] * 8
    assert "[curves](table1/shallow_finetune/curves.png)" in md
    assert "preset `demo`: lr 0.001, 3 epochs" in md and "not comparable with the paper's" in md


def test_fold_tables_mean_and_std(tmp_path):
    write_results(tmp_path, "table4", "fold1", binary_metrics(0.80))
    write_results(tmp_path, "table4", "fold2", binary_metrics(0.90))
    for k, ua in ((1, 0.6), (2, 0.7), (3, 0.8)):
        write_results(tmp_path, "table5", f"fold{k}", {"ua": ua, "wa": ua,
                                                       "per_class": {e: ua for e in EMOTIONS}})
    results = tables.load_results(tmp_path)
    md4 = tables.table4(results, tmp_path)
    cells, lines, i = row_cells(md4, f"{tables.OURS}, leave-one-session-out, mean ± std over 2 folds")
    assert cells[0] == "85.00 ± 7.07"
    assert following(lines, i, "Δ")[0] == "-4.71"  # 85.00 - 89.71
    assert row_cells(md4, "MulT (Tsai et al., 2019)", "paper")[0][:2] == ["84.40", "81.90"]
    md5 = tables.table5(results, tmp_path)
    cells, lines, i = row_cells(md5, f"{tables.OURS}, mean ± std over 3 folds")
    assert cells[4] == "70.00 ± 10.00"  # UA
    assert following(lines, i, "Δ")[4] == "-5.46"  # 70.00 - 75.458
    assert "The paper's UA (75.458) is not the mean of its own per-class values (75.5255)" in md5


def test_regression_table_has_both_protocols(tmp_path):
    every = {"acc7": 0.46, "acc5": 0.5, "acc2_nonzero": 0.8, "f1_nonzero": 0.79, "acc2_haszero": 0.78,
             "f1_haszero": 0.77, "mae": 0.6, "corr": 0.7}
    nonzero = {"acc7": 0.5, "acc5": 0.55, "acc2_nonzero": 0.90134, "f1_nonzero": 0.88, "acc2_haszero": 0.85,
               "f1_haszero": 0.84, "mae": 0.5, "corr": 0.75}
    write_results(tmp_path, "table3", "shallow_finetune", every, metrics_exclude_zero=nonzero)
    md = tables.table3(tables.load_results(tmp_path), tmp_path)
    original = f"{tables.OURS}, non-zero segments (the original code's protocol; the paper's numbers)"
    cells, lines, i = row_cells(md, original)
    assert cells == ["50.00", "90.13", "88.00", "0.500", "55.00", "0.750", "85.00", "84.00"]
    assert following(lines, i, "Δ")[:4] == ["+1.07", "+1.86", "-0.57", "-0.077"]  # against the paper's 48.927 ...
    cells, lines, i = row_cells(md, f"{tables.OURS}, all segments (MulT/MMSA protocol: Acc7 and MAE on every segment)")
    assert cells[:4] == ["46.00", "80.00", "79.00", "0.600"] and "Δ" not in lines[i + 1]
    assert row_cells(md, "ICCN (Sun et al., 2019)", "paper")[0][3] == "0.862"
    assert "CMU-MOSI" in md and tables.table2({}, tmp_path).count("—") >= 8  # not run: dashes


def write_run(root, name, wrong, seed=1, n=40):
    """A finished Table 1 run (results.json + predictions.jsonl) of per-emotion decisions on n utterances,
    the decision of emotion k wrong for the utterances whose index is in ``wrong[k]``."""
    run_dir = write_results(root, "table1", name, binary_metrics(0.0), target_type="iemocap_binary", seed=seed)
    rows = []
    for i in range(n):
        target = {e: int(i % 4 == k) for k, e in enumerate(EMOTIONS)}
        pred = {e: 1 - v if i in wrong.get(e, ()) else v for e, v in target.items()}
        rows.append(json.dumps({"id": f"u{i:02d}", "target": target, "pred": pred}))
    (run_dir / "predictions.jsonl").write_text("\n".join(rows) + "\n")
    return run_dir


def test_checks_are_paired_comparisons(tmp_path):
    write_run(tmp_path, "shallow_finetune", {"happy": range(4)})  # 4 of 160 decisions wrong
    write_run(tmp_path, "speech_only_finetune", {e: range(8) for e in EMOTIONS})  # 32 wrong
    write_run(tmp_path, "text_only_finetune", {"happy": range(2)})  # 2 wrong: better than the fusion
    found = {name: (ok, figures) for name, ok, figures in tables.checks(tmp_path, resamples=200)}
    assert found["fusion_beats_unimodal"][0] is False
    assert "shallow_finetune 97.50 vs text_only_finetune 98.75: -1.25" in found["fusion_beats_unimodal"][1]
    assert found["finetune_beats_frozen"] == (False, "missing runs: shallow_frozen")
    write_run(tmp_path, "text_only_finetune", {"happy": range(10)})
    write_run(tmp_path, "shallow_frozen", {"sad": range(12), "angry": range(12)})
    lines = tables.check_lines(tables.checks(tmp_path, resamples=200))
    assert lines[0].startswith("CHECK fusion_beats_unimodal: PASS (shallow_finetune 97.50 vs speech_only_finetune "
                               "80.00: +17.50 [95% CI ")
    assert "p = " in lines[0] and "paired bootstrap (200 resamples" in lines[0]
    assert lines[1].startswith("CHECK finetune_beats_frozen: PASS (shallow_finetune 97.50 vs shallow_frozen 85.00: +12.50")


def test_make_tables_cli_writes_file_and_strict_exit(tmp_path):
    write_run(tmp_path / "res", "shallow_finetune", {})
    out = tmp_path / "tables.md"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "make_tables.py"), str(tmp_path / "res"),
                           "--out", str(out), "--checks", "--strict"], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    for n in range(1, 6):
        assert f"## Table {n}:" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("CHECK finetune_beats_frozen: FAIL")
    assert "[curves](res/table1/shallow_finetune/curves.png)" in out.read_text()


# ------------------------------------------------------------------------------------------- driver
def test_settings_layering_hydra_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("optimization: {lr: [1.0e-5], max_epoch: 10}\n"
                                        "optimizer: {_name: adam, adam_betas: '(0.9,0.98)'}\n"
                                        "lr_scheduler: {_name: polynomial_decay}\n")
    (tmp_path / "table.yaml").write_text("base: base.yaml\neffective_batch_size: 16\nbatch_size: 4\n"
                                         "fairseq: {dropout: 0.1}\n")
    (tmp_path / "demo.yaml").write_text("max_epoch: 3\nfairseq: {lr: 0.001}\n")
    s = experiment.load_settings([tmp_path / "table.yaml", tmp_path / "demo.yaml"], ["dropout=0.0"])
    # max_epoch of a hydra base is the driver's to set (dropped); everything else becomes a fairseq flag.
    assert s["fairseq"] == {"lr": 0.001, "optimizer": "adam", "adam_betas": "(0.9,0.98)",
                            "lr_scheduler": "polynomial_decay", "dropout": 0.0}
    assert s["max_epoch"] == 3 and s["batch_size"] == 4


def test_original_schedule_is_the_authors_fixed_one():
    s = {"effective_batch_size": 16, "batch_size": 4, "max_epoch": 5, "warmup_ratio": 0.1, "schedule": "original"}
    for n_train in (160, 16326):  # a tiny corpus and CMU-MOSEI's training set: the same 2760 updates
        plan = experiment.schedule(s, n_train, 0)
        assert (plan["max_epoch"], plan["total_num_update"], plan["warmup_updates"]) == (10, 2760, 165)
        assert plan["schedule"] == "original" and plan["update_freq"] == 4
    assert experiment.schedule({**s, "schedule": "scaled"}, 16326, 0)["total_num_update"] == 1021 * 5
    with pytest.raises(AssertionError, match="schedule must be one of"):
        experiment.schedule({**s, "schedule": "linear"}, 160, 0)


def test_dry_run_prints_the_exact_commands_and_runs_nothing(tmp_path, capsys):
    run = fake_run(tmp_path, n=32)
    (run["data"] / "label" / "train.label").write_text("0.5\n" * 32)
    code = cli.run_experiment_main(["--data", str(run["data"]), "--pretrained", str(run["pretrained"]),
                                    "--run-dir", str(run["run_dir"]), "--arch", "ssl_emotion_shallow",
                                    "--target-type", "regression", "--schedule", "original", "--dry-run",
                                    "--set", "batch_size=8", "--set", "effective_batch_size=16"])
    out = capsys.readouterr().out
    assert code == 0 and not run["run_dir"].exists()
    assert "schedule original, 2760 updates (2 per epoch, warm-up 165)" in out
    train = next(line for line in out.splitlines() if line.startswith("train: "))
    for part in ("--max-epoch 10", "--total-num-update 2760", "--warmup-updates 165", "--update-freq 2"):
        assert part in train, part
    assert "score_exclude_zero: " in out and "--exclude-zero" in out


def test_schedule_derives_update_freq_from_gpus():
    s = {"effective_batch_size": 16, "batch_size": 4, "max_epoch": 5, "warmup_ratio": 0.1}
    assert experiment.schedule(s, 160, 0)["update_freq"] == 4  # CPU: one process
    plan = experiment.schedule(s, 160, 2)
    assert (plan["update_freq"], plan["total_num_update"], plan["warmup_updates"]) == (2, 50, 5)
    with pytest.raises(AssertionError, match="effective_batch_size"):
        experiment.schedule({**s, "batch_size": 3}, 160, 1)


def fake_run(tmp_path, n=20):
    data = tmp_path / "data"
    (data / "label").mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        (data / "label" / f"{split}.label").write_text("happy\n" * n)
    return {"data": data, "pretrained": tmp_path / "pre", "run_dir": tmp_path / "run", "arch": "ssl_emotion_shallow",
            "target_type": "iemocap_binary", "freeze_ssl": True, "seed": 7, "gpus": 2}


def test_commands_carry_the_settings(tmp_path):
    run = fake_run(tmp_path)
    settings = {"effective_batch_size": 16, "batch_size": 4, "max_epoch": 2,
                "fairseq": {"lr": 1e-5, "optimizer": "adam", "fp16": False, "no_epoch_checkpoints": True}}
    cmd = experiment.train_command(run, settings, experiment.schedule(settings, 20, 2))
    text = " ".join(cmd)
    for part in ("--task multimodal_emotion", "--arch ssl_emotion_shallow", "--freeze-ssl", "--lr 1e-05",
                 "--update-freq 2", "--batch-size 4", "--distributed-world-size 2", "--seed 7",
                 "--log-format json", "--no-epoch-checkpoints", "--total-num-update 4"):
        assert part in text, part
    assert "--fp16" not in text and "--cpu" not in text
    val = " ".join(experiment.validate_command({**run, "gpus": 0}, settings))
    assert "--valid-subset valid,test" in val and "predictions.{split}.jsonl" in val and "--cpu" in val
    with pytest.raises(AssertionError, match="may not set"):
        experiment.train_command(run, {"fairseq": {"seed": 3}}, experiment.schedule(settings, 20, 2))


def test_resume_and_skip(tmp_path, monkeypatch):
    """A finished run is skipped; a run whose training finished resumes at validation."""
    run = {**fake_run(tmp_path), "gpus": 0}
    calls = []

    def fake_subprocess(cmd, log_path, env):
        calls.append(Path(cmd[0]).name)
        if "fairseq-train" in cmd[0]:
            (run["run_dir"] / "checkpoints").mkdir(exist_ok=True)
            torch.save({"model": {}, "extra_state": {"train_iterator": {"epoch": 3}, "best": 0.25}},
                       run["run_dir"] / "checkpoints" / "checkpoint_best.pt")
        if "fairseq-validate" in cmd[0]:
            rows = [{"id": f"u{i}", "target": {e: int(i % 2 == 0) for e in EMOTIONS},
                     "pred": {e: 1 for e in EMOTIONS}, "probs": {e: 0.9 for e in EMOTIONS}} for i in range(4)]
            for split in ("valid", "test"):
                (run["run_dir"] / f"predictions.{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            Path(log_path).write_text('x | valid_on_test | {"test_loss": 0.1}\n')

    def fake_score(cmd, env):
        calls.append("score")
        return binary_metrics(1.0)

    monkeypatch.setattr(experiment, "_run", fake_subprocess)
    monkeypatch.setattr(experiment, "_score", fake_score)
    settings = {"batch_size": 4, "max_epoch": 1}

    first = experiment.run_experiment(run, settings, plots=False)
    assert calls == ["fairseq-train", "fairseq-validate", "score"]
    assert first["seed"] == 7 and first["metrics"]["happy"]["acc"] == 1.0
    assert first["fairseq_validate"] == {"test_loss": 0.1} and "--seed" in first["commands"]["train"]
    assert first["selection"]["split"] == "valid" and first["selection"]["epoch"] == 3
    assert first["calibration"]["temperature"] > 1  # over-confident (0.9 for half-right decisions): softened
    assert (run["run_dir"] / "checkpoints" / "checkpoint_best.calibration.json").is_file()
    assert set(first["wall_time_s"]) >= {"train_s", "validate_s", "score_s", "total_s"}

    calls.clear()
    assert experiment.run_experiment(run, settings, plots=False) == first  # skipped: nothing runs
    assert calls == []

    (run["run_dir"] / "results.json").unlink()  # training finished (train.done), results lost
    experiment.run_experiment(run, settings, plots=False)
    assert calls == ["fairseq-validate", "score"]

    calls.clear()
    experiment.run_experiment(run, settings, force=True, plots=False)
    assert calls == ["fairseq-train", "fairseq-validate", "score"]


def test_plots_from_log_and_predictions(tmp_path):
    from emotion_reproduce.plots import plot_run, read_log

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "train.log").write_text(
        '2024 | INFO | train_inner | {"epoch": 1, "update": 0.5, "loss": "1.2", "num_updates": "1"}\n'
        '{"epoch": 1, "train_loss": "1.1", "train_wall": "3"}\n'
        '2024 | INFO | valid | {"epoch": 1, "valid_loss": "1.0", "valid_happy_acc": "60.0"}\n'
        '2024 | INFO | valid | {"epoch": 1, "valid_loss": "1.0", "valid_happy_acc": "60.0"}\n')
    log = read_log(run_dir / "train.log")
    assert [len(log[k]) for k in ("train_inner", "train", "valid")] == [1, 1, 1]
    rows = [{"id": str(i), "target": {e: i % 2 for e in EMOTIONS}, "pred": {e: 1 for e in EMOTIONS}} for i in range(4)]
    (run_dir / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = plot_run(run_dir, label_space("iemocap_binary"))
    assert out["curves"].stat().st_size > 1000 and out["confusion"].stat().st_size > 1000


# ------------------------------------------------------------------------------------------- demo
def test_reduced_demo_end_to_end(demo_assets):
    """DEMO_SMALL=1 demo.sh on the shared small assets: five tables, two CHECK lines (paired comparisons), tables.md,
    Table 1 over two seeds with their summary."""
    out = REPO / ".cache" / "test-demo"
    env = {**os.environ, "DEMO_SMALL": "1", "DEMO_ASSETS": str(demo_assets)}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "reproduce" / "demo.sh"), str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"demo.sh exited {proc.returncode}\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    for n in range(1, 6):
        assert f"## Table {n}:" in proc.stdout
    checks = [line for line in proc.stdout.splitlines() if line.startswith("CHECK ")]
    assert [c.split(":")[0] for c in checks[-2:]] == ["CHECK fusion_beats_unimodal", "CHECK finetune_beats_frozen"]
    assert all((": PASS (" in c or ": FAIL (" in c) and "95% CI" in c and "p = " in c for c in checks[-2:])
    assert (out / "tables.md").is_file() and "## Table 5:" in (out / "tables.md").read_text()
    assert (out / "results" / "table1" / "shallow_finetune" / "seed1" / "curves.png").is_file()
    assert (out / "results" / "table1" / "shallow_finetune" / "summary.json").is_file()


def test_split_file_resplits_a_manifest(tmp_path):
    """Table 4's --split-file: utterance or dialog ids pick the split; unnamed utterances are left out."""
    from emotion_reproduce.splitfile import apply_split_file

    header = "id\taudio\tstart\tend\ttext\tlabel\tspeaker\tsession\tsplit\n"
    rows = [f"Ses0{s}F_impro01_F00{i}\twav/{s}{i}.wav\t\t\thello\tsad\tSes0{s}F\t{s}\ttrain\n"
            for s in (1, 2, 3) for i in (0, 1)]
    (tmp_path / "manifest.tsv").write_text(header + "".join(rows))
    (tmp_path / "split.json").write_text(json.dumps({"train": ["Ses01F_impro01"], "valid": ["Ses02F_impro01_F000"],
                                                     "test": ["Ses03F_impro01"]}))
    counts = apply_split_file(tmp_path / "manifest.tsv", tmp_path / "split.json", tmp_path / "out.tsv")
    assert counts == {"train": 2, "valid": 1, "test": 2, "unassigned": 1}
    out = [line.split("\t") for line in (tmp_path / "out.tsv").read_text().splitlines()[1:]]
    assert [(r[0], r[-1]) for r in out][:3] == [("Ses01F_impro01_F000", "train"), ("Ses01F_impro01_F001", "train"),
                                                ("Ses02F_impro01_F000", "valid")]
    assert out[0][1] == str(tmp_path / "wav" / "10.wav")  # audio made absolute
