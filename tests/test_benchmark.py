"""emotion_bench/benchmark.py: a configuration whose process dies is reported, and the others still are."""
import os
import signal

from emotion_bench import benchmark


def killed_by_the_system(job):
    os.kill(os.getpid(), signal.SIGKILL)


def raises(job):
    raise RuntimeError("no such configuration")


def measured(job):
    return {"utt_per_s": job["rate"], "updates": 2, "peak_rss_gb": 1.0, "peak_over_model_gb": 0.5, "loss": 3.0}


def test_a_measurement_runs_in_a_child_process():
    assert benchmark.in_child({"kind": "train", "config": {}, "rate": 2.0}, measured)["utt_per_s"] == 2.0


def test_a_killed_child_is_a_failure_not_a_hang():
    result = benchmark.in_child({"kind": "train", "config": {"name": "big"}}, killed_by_the_system)
    assert result == {"failed": "the measuring process died: killed by signal 9 "
                                "(most often the kernel's out-of-memory killer)"}


def test_an_exception_in_the_child_is_a_failure():
    result = benchmark.in_child({"kind": "train", "config": {}}, raises)
    assert result == {"failed": "the measuring process died: exit status 1"}


def test_a_failed_configuration_keeps_the_others_ratios():
    runs = {"baseline": [measured({"rate": 1.0}), measured({"rate": 2.0})],
            "fast": [measured({"rate": 4.0}), measured({"rate": 6.0})],
            "fast_big": [measured({"rate": 5.0}), {"failed": "killed"}]}
    train = benchmark.summarize_training(runs)
    assert train["fast_big"] == {"failed": "killed"}
    assert train["fast"]["speedup"] == 3.33  # medians 5.0 / 1.5
    assert train["fast"]["speedup_runs"] == [4.0, 3.0]
    assert train["fast"]["speedup_best"] == 3.0


def test_a_failed_baseline_gives_no_ratios():
    train = benchmark.summarize_training({"baseline": [{"failed": "killed"}], "fast": [measured({"rate": 4.0})]})
    assert train["baseline"] == {"failed": "killed"} and "speedup" not in train["fast"]
    assert benchmark.summarize_frozen({"failed": "killed"}, {"later_epoch_s": 1.0}) == {"failed": "killed"}


def test_a_failed_waveform_measurement_fails_the_run():
    out = {"train": {"baseline": measured({"rate": 1.0})}, "frozen": None,
           "waveform": {"train": {"baseline": {"utt_per_s": 1.0}, "fast": {"failed": "killed"}},
                        "batch16": {"baseline": {"failed": "killed"}, "fast": {"peak_rss_gb": 9.0}}}}
    assert benchmark.failed_sections(out) == ["waveform fast", "waveform batch16 baseline"]
    assert benchmark.failed_sections({"train": None, "frozen": None, "waveform": None}) == []
