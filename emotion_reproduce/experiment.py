"""One experiment: ``fairseq-train``, ``fairseq-validate --valid-subset test``, scoring, plots, ``results.json``.

A run directory holds everything of one run::

    RUN_DIR/checkpoints/        fairseq-train --save-dir (checkpoint_best.pt kept; checkpoint_last.pt removed
                                once the run is finished, unless keep_checkpoints)
    RUN_DIR/train.log           fairseq's JSON log (--log-format json --log-file): the curves come from it
    RUN_DIR/train.done          written when fairseq-train exits 0 (a rerun then goes straight to validation)
    RUN_DIR/predictions.jsonl   fairseq-validate --save-predictions on the test split
    RUN_DIR/validate.log        fairseq-validate's output
    RUN_DIR/curves.png, confusion.png
    RUN_DIR/results.json        metrics, settings, commands, seed, git commit, wall times, plot paths

A run whose ``results.json`` exists is skipped; an interrupted one resumes (fairseq-train restarts from
``checkpoints/checkpoint_last.pt`` by itself). ``results.json`` is written last and atomically, so its
presence means the whole run finished.

Settings come from YAML files (``configs/...``), later files overriding earlier ones::

    base: ../finetune.yaml        # optional: files merged first (paths relative to this file)
    effective_batch_size: 16      # batch size x update-freq x GPUs; update-freq is derived from it
    batch_size: 4                 # sentences per GPU and step
    max_epoch: 10                 # training length; the polynomial schedule's total updates follow from it
    warmup_ratio: 0.06            # warm-up updates as a fraction of the total (or warmup_updates: N)
    schedule: scaled              # scaled (above) or original (the authors' fixed 2760/165 updates, 10 epochs)
    fairseq: {lr: 1e-5, ...}      # passed to fairseq-train verbatim as --lr 1e-5 (true -> bare flag)

A file in fairseq's hydra layout (``optimization: {lr: [1e-5]}``, ``lr_scheduler: {_name: ...}``) is
flattened into the same ``fairseq`` flags.
"""
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from emotion_core.calibration_file import write_temperature
from emotion_core.files import atomic_write_text
from emotion_core.label_spaces import label_space
from emotion_core.labels import LABELS_FILE, read_labels
from emotion_core.layout import PretrainedLayout

REPO = Path(__file__).resolve().parents[1]

# Keys of a settings file that the driver interprets itself (everything else must sit under `fairseq:`).
DRIVER_KEYS = ("base", "effective_batch_size", "batch_size", "max_epoch", "warmup_ratio", "warmup_updates",
               "valid_batch_size", "description", "schedule")
SCHEDULES = ("scaled", "original")
SPEECH_ENCODERS = ("speech_bert", "wav2vec2", "hubert")  # --speech-encoder: checkpoints of the pretrained layout
# The original code's README trains every corpus with --total-num-update 2760 --warmup-updates 165
# --max-epoch 10 (its author confirmed the same command for CMU-MOSI/MOSEI): the rate reaches 0 after
# 2760 updates whatever the corpus's size (on CMU-MOSEI after about 2.7 of the 10 epochs).
ORIGINAL_SCHEDULE = {"max_epoch": 10, "total_num_update": 2760, "warmup_updates": 165}
# Groups of a fairseq hydra config; a file with any of them at top level is flattened into flags.
HYDRA_GROUPS = ("common", "common_eval", "dataset", "optimization", "optimizer", "lr_scheduler", "checkpoint",
                "distributed_training", "model", "task", "criterion", "bpe", "tokenizer", "ema")
# Fields of a hydra base config that the driver replaces (see _flatten_hydra).
HYDRA_DROPPED = ("fusion", "modalities", "max_update", "valid_subset", "data", "log_interval_updates")
# Flags the driver sets itself from the run's arguments; a settings file may not set them.
RESERVED_FLAGS = ("task", "arch", "criterion", "target_type", "freeze_ssl", "speech_checkpoint",
                  "text_checkpoint", "save_dir", "seed", "log_format", "log_file", "cpu", "num_workers",
                  "distributed_world_size", "update_freq", "batch_size", "max_epoch", "total_num_update",
                  "warmup_updates", "user_dir", "max_update")


# ----------------------------------------------------------------------------------------- settings
def _merge(a, b):
    """Recursive dict merge: values of ``b`` win; nested dicts merge."""
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _flatten_hydra(cfg):
    """Turn a fairseq hydra config (groups of dataclass fields) into our ``{"fairseq": {flag: value}}``.

    Fields the driver derives per run are dropped: the ``RESERVED_FLAGS``, ``HYDRA_DROPPED`` (the
    architecture picks fusion and modalities; max_epoch sets the length) and required ``???`` values.
    """
    flags, rest = {}, {}
    for group, body in cfg.items():
        if group in HYDRA_GROUPS and isinstance(body, dict):
            for key, value in body.items():
                if value == "???" or key in RESERVED_FLAGS or key in HYDRA_DROPPED:
                    continue
                if key == "_name":
                    if group not in ("task", "model", "criterion"):  # those three the driver names itself
                        flags[group] = value  # e.g. optimizer: {_name: adam} -> --optimizer adam
                elif isinstance(value, (list, tuple)) and key in ("lr", "update_freq"):
                    flags[key] = ",".join(str(v) for v in value)  # lr: [1e-5] -> --lr 1e-05
                elif isinstance(value, (list, tuple)):
                    flags[key] = "(" + ", ".join(str(v) for v in value) + ")"  # adam_betas -> "(0.9, 0.98)"
                else:
                    flags[key] = value
        else:
            rest[group] = body
    return _merge(rest, {"fairseq": flags}) if flags else rest


def load_settings(paths, overrides=()):
    """Merge settings files (each may name ``base`` files merged before it) and ``key=value`` overrides.

    An override ``lr=1e-4`` or ``fairseq.lr=1e-4`` sets a fairseq flag; ``max_epoch=3`` a driver key.
    >>> load_settings([], ["max_epoch=3", "lr=1e-4"])
    {'max_epoch': 3, 'fairseq': {'lr': 0.0001}}
    """
    settings = {}
    for path in paths:
        settings = _merge(settings, _load_file(Path(path)))
    for item in overrides:
        key, sep, raw = item.partition("=")
        assert sep, f"override {item!r} must look like key=value"
        value = yaml.safe_load(raw)
        key = key.removeprefix("fairseq.")
        if key in DRIVER_KEYS:
            settings[key] = value
        else:
            settings = _merge(settings, {"fairseq": {key.replace("-", "_"): value}})
    return settings


def _load_file(path, seen=()):
    assert path.is_file(), f"settings file {path} does not exist"
    assert path.resolve() not in seen, f"settings file {path} includes itself through 'base'"
    cfg = yaml.safe_load(path.read_text()) or {}
    cfg = _flatten_hydra(cfg)
    bases = cfg.pop("base", None) or []
    merged = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = _merge(merged, _load_file(path.parent / base, (*seen, path.resolve())))
    return _merge(merged, cfg)


# ----------------------------------------------------------------------------------------- schedule
def count_examples(data, split):
    """Number of utterances of a prepared split (lines of ``label/{split}.label``)."""
    path = Path(data) / "label" / f"{split}.label"
    assert path.is_file(), f"{path} is missing: is {data} a data directory written by scripts/prepare_data.py?"
    with open(path) as f:
        return sum(1 for line in f if line.strip())


def schedule(settings, n_train, gpus):
    """Batch size, update-freq and the polynomial schedule's lengths for ``n_train`` utterances.

    update_freq = effective_batch_size / (batch_size x max(gpus, 1)). With ``schedule: scaled`` (the
    default) total updates follow from max_epoch, warm-up from warmup_ratio; with ``schedule:
    original`` they are the original code's fixed :data:`ORIGINAL_SCHEDULE`, whatever the corpus.
    >>> schedule({"effective_batch_size": 16, "batch_size": 4, "max_epoch": 2, "warmup_ratio": 0.1}, 100, 2)
    {'batch_size': 4, 'update_freq': 2, 'updates_per_epoch': 7, 'schedule': 'scaled', 'max_epoch': 2, 'total_num_update': 14, 'warmup_updates': 1}
    """
    workers = max(gpus, 1)
    effective = int(settings.get("effective_batch_size", 16))
    batch = int(settings.get("batch_size", effective // workers))
    assert effective % (batch * workers) == 0, (
        f"effective_batch_size {effective} is not batch_size {batch} x update-freq x {workers} GPU(s): "
        "pick a batch_size that divides it")
    update_freq = effective // (batch * workers)
    updates_per_epoch = math.ceil(n_train / effective)
    kind = settings.get("schedule", "scaled")
    assert kind in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {kind!r}"
    plan = {"batch_size": batch, "update_freq": update_freq, "updates_per_epoch": updates_per_epoch, "schedule": kind}
    if kind == "original":
        return {**plan, **ORIGINAL_SCHEDULE}
    max_epoch = int(settings.get("max_epoch", 10))
    total = updates_per_epoch * max_epoch
    if "warmup_updates" in settings:
        warmup = int(settings["warmup_updates"])
    else:
        warmup = int(round(total * float(settings.get("warmup_ratio", 0.06))))
    return {**plan, "max_epoch": max_epoch, "total_num_update": total, "warmup_updates": warmup}


# ----------------------------------------------------------------------------------------- commands
def fairseq_bin(name):
    """Path of a fairseq console script: next to the running interpreter (the .venv), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def flags(options):
    """``{"lr": 1e-5, "fp16": True, "x": None}`` -> ``["--lr", "1e-05", "--fp16"]`` (false/None dropped)."""
    out = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is False or value is None:
            continue
        else:
            out += [flag, str(value)]
    return out


def device_flags(gpus):
    """CPU (gpus == 0): --cpu; N > 1 GPUs: fairseq's own single-node launcher (--distributed-world-size N)."""
    if gpus <= 0:
        return ["--cpu"]
    return ["--distributed-world-size", str(gpus)] if gpus > 1 else []


def train_command(run, settings, plan):
    """The fairseq-train command line of a run (a list of strings)."""
    layout = PretrainedLayout(run["pretrained"])
    bad = sorted(set(settings.get("fairseq", {})) & set(RESERVED_FLAGS))
    assert not bad, f"settings may not set {bad}: the driver derives them from the run's arguments"
    cmd = [fairseq_bin("fairseq-train"), str(run["data"]), "--user-dir", str(REPO),
           "--task", "multimodal_emotion", "--target-type", run["target_type"],
           "--arch", run["arch"], "--criterion", "multimodal_emotion",
           "--speech-checkpoint", str(layout.speech_encoder(run.get("speech_encoder", "speech_bert"))),
           "--text-checkpoint", str(layout.roberta)]
    if run.get("freeze_ssl"):
        cmd.append("--freeze-ssl")
    cmd += flags(settings.get("fairseq", {}))
    cmd += ["--batch-size", str(plan["batch_size"]), "--update-freq", str(plan["update_freq"]),
            "--max-epoch", str(plan["max_epoch"]), "--total-num-update", str(plan["total_num_update"]),
            "--warmup-updates", str(plan["warmup_updates"]),
            "--seed", str(run["seed"]), "--save-dir", str(Path(run["run_dir"]) / "checkpoints"),
            "--log-format", "json", "--log-file", str(Path(run["run_dir"]) / "train.log"),
            "--num-workers", str(run.get("num_workers", 0))]
    return cmd + device_flags(run["gpus"])


def validate_command(run, settings):
    """fairseq-validate of the best checkpoint on the valid and test splits, saving one prediction per
    utterance to RUN_DIR/predictions.{valid,test}.jsonl (the valid split's fit the temperature)."""
    run_dir = Path(run["run_dir"])
    cmd = [fairseq_bin("fairseq-validate"), str(run["data"]), "--user-dir", str(REPO),
           "--task", "multimodal_emotion", "--path", str(run_dir / "checkpoints" / "checkpoint_best.pt"),
           "--valid-subset", "valid,test", "--save-predictions", str(run_dir / "predictions.{split}.jsonl"),
           "--batch-size", str(settings.get("valid_batch_size", 16)), "--log-format", "json",
           "--seed", str(run["seed"]), "--num-workers", str(run.get("num_workers", 0))]
    return cmd + (["--cpu"] if run["gpus"] <= 0 else [])


def score_command(run, exclude_zero=False):
    """scripts/score_predictions.py on the saved predictions (with the data's labels.json, when it has one);
    prints the metrics as one JSON object. ``exclude_zero``: the original code's regression protocol."""
    labels = Path(run["data"]) / LABELS_FILE
    return [sys.executable, str(REPO / "scripts" / "score_predictions.py"), "--protocol", run["target_type"],
            *(["--labels", str(labels)] if labels.is_file() else []), *(["--exclude-zero"] if exclude_zero else []),
            str(Path(run["run_dir"]) / "predictions.jsonl")]


# ----------------------------------------------------------------------------------------- running
def _run(cmd, log_path, env):
    """Run a command, teeing its output to ``log_path``; raise with the log's tail when it fails."""
    print("+ " + " ".join(cmd), flush=True)
    with open(log_path, "a") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    if proc.returncode != 0:
        tail = Path(log_path).read_text()[-4000:]
        raise RuntimeError(f"{Path(cmd[0]).name} exited {proc.returncode} (full log: {log_path}):\n{tail}")


def _score(cmd, env):
    """Run score_predictions.py and return the metrics dict it prints."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"score_predictions.py exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    scored = _json_objects(proc.stdout)
    assert scored, f"score_predictions.py printed no JSON object:\n{proc.stdout[-2000:]}"
    return scored[-1]


def _json_objects(text):
    """JSON objects found on the lines of ``text`` (a fairseq JSON log or a script's stdout), in order."""
    out = []
    for line in text.splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            obj = json.loads(line[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def git_commit():
    """The repository's HEAD commit, with ``+dirty`` when tracked files differ; None outside git."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def experiment_commands(run, settings):
    """(schedule plan, {step: command}) of a run: fairseq-train, fairseq-validate, scoring (for regression
    also scoring without the zero-labelled segments)."""
    space = label_space(run["target_type"], read_labels(run["data"], run["target_type"]))
    plan = schedule(settings, count_examples(run["data"], "train"), run["gpus"])
    commands = {"train": train_command(run, settings, plan), "validate": validate_command(run, settings),
                "score": score_command(run)}
    if space.has_zero_protocol:
        commands["score_exclude_zero"] = score_command(run, exclude_zero=True)
    return plan, commands


def dry_run(run, settings):
    """The commands of a run, one shell-quoted line each, without running anything."""
    plan, commands = experiment_commands(run, settings)
    lines = [f"# {run['run_dir']}: schedule {plan['schedule']}, {plan['total_num_update']} updates "
             f"({plan['updates_per_epoch']} per epoch, warm-up {plan['warmup_updates']})"]
    return "\n".join(lines + [f"{step}: {shlex.join(cmd)}" for step, cmd in commands.items()])


def check_selection(settings):
    """Refuse settings that would select a checkpoint, or stop early, on the test split."""
    fairseq = settings.get("fairseq", {})
    for flag in ("valid_subset", "train_subset"):
        if "test" in str(fairseq.get(flag, "")).split(","):
            raise ValueError(f"settings set --{flag.replace('_', '-')} {fairseq[flag]}: the test split would choose "
                             "the checkpoint (or be trained on); the driver selects on the validation split only and "
                             "evaluates the test split once, with the selected checkpoint")


def selection(settings, checkpoint):
    """How the evaluated checkpoint was chosen: the split, the criterion, its epoch and update."""
    extra = torch_load_extra_state(checkpoint)
    fairseq = settings.get("fairseq", {})
    return {"split": fairseq.get("valid_subset", "valid"), "checkpoint": checkpoint.name,
            "criterion": fairseq.get("best_checkpoint_metric", "loss") + (
                " (higher is better)" if fairseq.get("maximize_best_checkpoint_metric") else " (lower is better)"),
            "epoch": extra.get("train_iterator", {}).get("epoch"), "best": extra.get("best"),
            "every_metric_from": f"{checkpoint.name} on the test split, in one fairseq-validate run"}


def torch_load_extra_state(checkpoint):
    """A fairseq checkpoint's ``extra_state`` without reading its weights (memory-mapped, safe loading)."""
    import torch

    import emotion_fairseq  # noqa: F401  (the allowlist of fairseq's checkpoint classes)

    state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    return state.get("extra_state", {}) or {}


def calibrate(run_dir, space, checkpoint):
    """Temperature scaling fitted on the valid split's predictions, measured on the test split's; the
    temperature is also written beside the checkpoint, where EmotionRecognizer applies it."""
    from emotion_eval.calibration import arrays, calibration
    from emotion_eval.scoring import read_rows

    splits = [arrays([row for _, row in read_rows([run_dir / name])], space)
              for name in ("predictions.valid.jsonl", "predictions.jsonl")]
    result = calibration(*splits, binary=space.independent_probabilities)
    write_temperature(checkpoint, result["temperature"], space)
    return result


def run_experiment(run, settings, force=False, keep_checkpoints=False, plots=True):
    """Run (or resume, or skip) one experiment and return its results dict.

    ``run`` holds: data, pretrained, run_dir, arch, target_type, freeze_ssl, seed, gpus, and optionally
    speech_encoder (``speech_bert``, the default, ``wav2vec2`` or ``hubert``: which checkpoint of the
    pretrained layout is the speech encoder), table, name, meta (free key/values recorded as they are),
    settings_files.
    """
    run_dir = Path(run["run_dir"])
    results_path = run_dir / "results.json"
    if results_path.exists() and not force:
        print(f"[run] {run_dir}: results.json exists, skipping (use --force to rerun)", flush=True)
        return json.loads(results_path.read_text())
    if force:
        for name in ("train.done", "train.log", "validate.log", "predictions.jsonl", "predictions.valid.jsonl",
                     "results.json"):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    check_selection(settings)
    run_dir.mkdir(parents=True, exist_ok=True)

    space = label_space(run["target_type"], read_labels(run["data"], run["target_type"]))
    n_train = count_examples(run["data"], "train")
    plan, commands = experiment_commands(run, settings)
    env = {**os.environ, "PYTHONHASHSEED": str(run["seed"]), "PYTHONUNBUFFERED": "1"}
    walls = {}

    t0 = time.time()
    if not (run_dir / "train.done").exists():
        _run(commands["train"], run_dir / "train.stdout", env)
        atomic_write_text(run_dir / "train.done", f"{time.time() - t0:.1f}\n")
    walls["train_s"] = round(time.time() - t0, 1)

    t1 = time.time()
    for name in ("predictions.jsonl", "predictions.valid.jsonl", "validate.log"):
        (run_dir / name).unlink(missing_ok=True)
    _run(commands["validate"], run_dir / "validate.log", env)
    os.replace(run_dir / "predictions.test.jsonl", run_dir / "predictions.jsonl")
    walls["validate_s"] = round(time.time() - t1, 1)
    validate_stats = [o for o in _json_objects((run_dir / "validate.log").read_text())
                      if any(k.startswith("test_") for k in o)]
    checkpoint = run_dir / "checkpoints" / "checkpoint_best.pt"
    calibration = calibrate(run_dir, space, checkpoint) if space.has_probabilities else None

    t2 = time.time()
    metrics = _score(commands["score"], env)
    nonzero = _score(commands["score_exclude_zero"], env) if "score_exclude_zero" in commands else None
    walls["score_s"] = round(time.time() - t2, 1)

    plot_paths = {}
    if plots:
        from emotion_reproduce.plots import plot_run  # matplotlib only when needed
        plot_paths = {k: os.path.relpath(v, run_dir)
                      for k, v in plot_run(run_dir, space, (calibration or {}).get("temperature")).items()}

    if not keep_checkpoints:
        (run_dir / "checkpoints" / "checkpoint_last.pt").unlink(missing_ok=True)
    walls["total_s"] = round(time.time() - t0, 1)

    results = {
        "table": run.get("table"), "name": run.get("name") or run_dir.name,
        "arch": run["arch"], "target_type": run["target_type"], "labels": space.info.to_json(),
        "freeze_ssl": bool(run.get("freeze_ssl")), "speech_encoder": run.get("speech_encoder", "speech_bert"),
        "metrics": metrics, "metrics_exclude_zero": nonzero, "calibration": calibration,
        "selection": selection(settings, checkpoint),
        "fairseq_validate": validate_stats[-1] if validate_stats else None,
        "seed": run["seed"], "gpus": run["gpus"], "data": str(run["data"]), "pretrained": str(run["pretrained"]),
        "n_train": n_train, "n_test": count_examples(run["data"], "test"),
        "settings": settings, "settings_files": [str(p) for p in run.get("settings_files", [])],
        "schedule": plan, "meta": run.get("meta", {}), "commands": commands,
        "git_commit": git_commit(), "wall_time_s": walls, "plots": plot_paths,
        "predictions": "predictions.jsonl", "predictions_valid": "predictions.valid.jsonl", "train_log": "train.log",
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic_write_text(results_path, json.dumps(results, indent=2) + "\n")
    print(f"[run] {run_dir}: done in {walls['total_s']:.0f}s -> {results_path}", flush=True)
    return results


def run_configuration(run, settings, seeds, **options):
    """One configuration over several seeds: a run per seed in RUN_DIR/seed<S>/ (each resumable, as
    :func:`run_experiment`), then RUN_DIR/summary.json: per metric its values, mean, std and a
    bootstrap 95% interval (emotion_eval.bootstrap). Returns the summary."""
    from emotion_eval.bootstrap import summarize
    from emotion_eval.runs import load_run

    run_dir = Path(run["run_dir"])
    name = run.get("name") or run_dir.name
    for seed in seeds:
        run_experiment({**run, "seed": seed, "name": name, "run_dir": run_dir / f"seed{seed}"}, settings, **options)
    summary = {"name": name, "seeds": list(seeds), **summarize([load_run(run_dir / f"seed{s}") for s in seeds])}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"[run] {run_dir}: {len(seeds)} seeds summarised -> {run_dir / 'summary.json'}", flush=True)
    return summary
