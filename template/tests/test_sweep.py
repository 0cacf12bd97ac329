"""The local sweep's logic: sampling the study, reading cloudml-hypertune's files, ranking, and
running trials K at a time. (`make hptune-local` itself is run by the template's own tests.)"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest
import yaml

from workflow import sweep
from workflow.cloud import hptuning
from workflow.cloud.settings import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PARAMETERS = [
    {
        "parameterId": "learning-rate",
        "doubleValueSpec": {"minValue": 0.0001, "maxValue": 0.1},
        "scaleType": "UNIT_LOG_SCALE",
    },
    {
        "parameterId": "batch-size",
        "integerValueSpec": {"minValue": 16, "maxValue": 256},
        "scaleType": "UNIT_LOG_SCALE",
    },
    {"parameterId": "hidden-units", "categoricalValueSpec": {"values": ["32", "64,32"]}},
    {"parameterId": "dropout", "discreteValueSpec": {"values": [0.0, 0.2]}},
]


def test_random_trials_are_seeded_distinct_and_inside_the_ranges():
    trials = sweep.sample_trials(PARAMETERS, 30, "random", seed=4)
    assert trials == sweep.sample_trials(PARAMETERS, 30, "random", seed=4)
    assert trials != sweep.sample_trials(PARAMETERS, 30, "random", seed=5)
    assert len({tuple(t.values()) for t in trials}) == 30
    for t in trials:
        assert 0.0001 <= t["learning-rate"] <= 0.1
        assert isinstance(t["batch-size"], int) and 16 <= t["batch-size"] <= 256
        assert t["hidden-units"] in ("32", "64,32") and t["dropout"] in (0.0, 0.2)
    # A log scale spreads the samples over the decades: about as many below 0.00316 as above.
    low = sum(t["learning-rate"] < math.sqrt(0.0001 * 0.1) for t in trials)
    assert 5 <= low <= 25


def test_a_grid_spaces_ranges_on_their_scale_and_lists_every_value():
    assert sweep.grid_values(PARAMETERS[0], 3) == [0.0001, 0.003162, 0.1]
    assert sweep.grid_values(PARAMETERS[1], 3) == [16, 64, 256]
    small = {"parameterId": "n", "integerValueSpec": {"minValue": 1, "maxValue": 3}}
    assert sweep.grid_values(small, 5) == [1, 2, 3]
    linear = {"parameterId": "d", "doubleValueSpec": {"minValue": 0.0, "maxValue": 0.5}}
    assert sweep.grid_values(linear, 3) == [0.0, 0.25, 0.5]
    reverse = dict(PARAMETERS[0], scaleType="UNIT_REVERSE_LOG_SCALE")
    assert sweep.grid_values(reverse, 3) == [0.0001, 0.09694, 0.1]  # dense near the top

    whole = sweep.sample_trials(PARAMETERS, 100, "grid", seed=0)
    assert len(whole) == 3 * 3 * 2 * 2
    assert len({tuple(t.values()) for t in whole}) == len(whole)
    some = sweep.sample_trials(PARAMETERS, 5, "grid", seed=0)
    assert len(some) == 5 and all(t in whole for t in some)


def test_the_final_measurement_is_the_last_report_unless_the_study_wants_the_best(tmp_path):
    path = tmp_path / "output.metrics"
    lines = [
        {"global_step": "1", "val_accuracy": "0.5", "trial": "1"},
        {"global_step": "2", "val_accuracy": "0.9", "trial": "1"},
        {"global_step": "3", "val_accuracy": "0.7", "trial": "1"},
        {"global_step": "3", "other": "1", "trial": "1"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    reports = sweep.read_metric_file(path, "val_accuracy")
    assert reports == [(1, 0.5), (2, 0.9), (3, 0.7)]
    assert sweep.final_measurement(reports, "MAXIMIZE", None) == (3, 0.7)
    assert sweep.final_measurement(reports, "MAXIMIZE", "BEST_MEASUREMENT") == (2, 0.9)
    assert sweep.final_measurement(reports, "MINIMIZE", "BEST_MEASUREMENT") == (1, 0.5)


FAKE_TRAINER = """
import sys, hypertune
flags = dict(arg[2:].split("=", 1) for arg in sys.argv[1:] if "=" in arg)
if flags["x"] == "bad":
    print("error: x is bad")
    sys.exit(3)
hypertune.HyperTune().report_hyperparameter_tuning_metric("val_score", float(flags["x"]), 2)
"""


def fake_sweep(tmp_path: Path, xs: list[str], goal: str, max_failed: int | None = None):
    """A sweep whose trials run a stand-in for the trainer that reports x as its metric."""
    config = {
        "studySpec": {
            "metrics": [{"metricId": "val_score", "goal": goal}],
            "parameters": [{"parameterId": "x", "categoricalValueSpec": {"values": xs}}],
        },
        "maxFailedTrialCount": max_failed,
    }
    trials = [sweep.Trial(str(i), {"x": x}, tmp_path / str(i)) for i, x in enumerate(xs, start=1)]
    command = [sys.executable, "-c", FAKE_TRAINER]
    return sweep.Sweep(config, trials, command, tmp_path, 1, "random")


def test_trials_are_ranked_by_the_goal_and_failures_are_shown(tmp_path, capsys):
    s = fake_sweep(tmp_path, ["0.3", "bad", "0.1", "0.2"], "MINIMIZE")
    sweep.run(s)
    progress = capsys.readouterr().out
    assert "[4/4]" in progress
    assert f"trial 2 failed, exit 3: error: x is bad; log: {tmp_path / '2' / 'train.log'}" in (
        progress
    )
    assert [(t.id, t.status) for t in s.ranked()] == [
        ("3", "done"),
        ("4", "done"),
        ("1", "done"),
        ("2", "failed"),
    ]
    assert s.best().id == "3"

    sweep.write_csv(s, tmp_path / "results.csv")
    with (tmp_path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["rank"], r["trial"], r["val_score"], r["x"]) for r in rows] == [
        ("1", "3", "0.1", "0.1"),
        ("2", "4", "0.2", "0.2"),
        ("3", "1", "0.3", "0.3"),
        ("", "2", "", "bad"),
    ]
    assert rows[0]["job_dir"] == str(tmp_path / "3")
    table = sweep.format_table(s).splitlines()
    assert table[0].split() == ["rank", "trial", "val_score", "epoch", "seconds", "x", "status"]
    assert table[1].split()[:4] == ["1", "3", "0.1000", "2"]


def test_no_trial_starts_once_max_failed_trials_failed(tmp_path):
    s = fake_sweep(tmp_path, ["bad", "0.1", "0.2"], "MAXIMIZE", max_failed=1)
    sweep.run(s)
    assert [t.status for t in s.trials] == ["failed", "skipped", "skipped"]
    assert not (tmp_path / "2").exists()


def sweep_args(tmp_path: Path, *args: str) -> list[str]:
    return [
        "--config",
        str(ROOT / hptuning.DEFAULT_PATH),
        "--output-dir",
        str(tmp_path / "s"),
        *args,
    ]


def test_the_plan_runs_the_trainer_with_the_studys_metric_in_a_shared_job_dir(tmp_path):
    plan = sweep.plan(sweep.parse_args(sweep_args(tmp_path, "--trials", "3", "--num-epochs", "2")))
    config = hptuning.load(ROOT / hptuning.DEFAULT_PATH)
    metric = config["studySpec"]["metrics"][0]["metricId"]
    assert plan.command[1:3] == ["-m", "trainer.task"]
    assert plan.command[-3:] == ["--num-epochs", "2", f"--hypertune-metric={metric}"]
    assert plan.command[plan.command.index("--job-dir") + 1] == str(tmp_path / "s")
    assert [t.job_dir for t in plan.trials] == [tmp_path / "s" / str(i) for i in (1, 2, 3)]
    assert not (tmp_path / "s").exists(), "planning wrote something"


def test_a_tuned_flag_among_the_trainer_arguments_is_refused(tmp_path):
    args = sweep.parse_args(sweep_args(tmp_path, "--", "--learning-rate", "0.1"))
    with pytest.raises(ConfigError, match="--learning-rate is set for each trial"):
        sweep.plan(args)


def test_a_used_output_dir_is_refused(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "results.csv").write_text("")
    with pytest.raises(ConfigError, match="is not empty: give each sweep a new --output-dir"):
        sweep.plan(sweep.parse_args(sweep_args(tmp_path)))


def test_a_bad_config_is_refused_before_anything_runs(tmp_path, capsys):
    config = yaml.safe_load((ROOT / hptuning.DEFAULT_PATH).read_text())
    config["studySpec"]["parameters"][0]["parameterId"] = "learning-rte"
    path = tmp_path / "hptuning.yaml"
    path.write_text(yaml.safe_dump(config))
    code = sweep.main(["--config", str(path), "--output-dir", str(tmp_path / "s")])
    assert code == 1
    assert "parameter 'learning-rte' is not a hyperparameter flag" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
