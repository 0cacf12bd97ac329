"""The generated project's own workflow, as its README tells a newcomer to run it:
`make train` on the sample data, then `make predict` through the real gcloud."""

from __future__ import annotations

import json

from conftest import VENV_BIN, local_predict, render, run, write_houses

MAKE_VENV = f"VENV={VENV_BIN.parent}"


def test_make_help_lists_the_workflow(default_project):
    result = run(["make", "help"], cwd=default_project)
    for target in ("install", "test", "lint", "train", "predict"):
        assert f"make {target} " in result.stdout


def test_train_then_predict_through_gcloud(default_project, gcloud_env):
    run(["make", "train", MAKE_VENV], cwd=default_project)
    metrics = json.loads((default_project / "outputs/local/metrics.json").read_text())
    assert metrics["accuracy"] > 0.9, metrics  # the penguins are easy to tell apart

    result = run(["make", "--silent", "predict", MAKE_VENV], cwd=default_project, env=gcloud_env)
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["CLASSES", "PROBABILITIES"], result.stdout
    # data/instances.json holds one penguin of each species, in this order.
    assert [line.split()[0] for line in lines[1:]] == ["Adelie", "Gentoo", "Chinstrap"]


def test_bad_data_is_one_clear_error(default_project, tmp_path):
    broken = tmp_path / "train.csv"
    header, *rows = (default_project / "data/train.csv").read_text().splitlines()
    broken.write_text("\n".join([header.replace("island", "isle"), *rows]) + "\n")
    result = run(
        [
            "python",
            "-m",
            "trainer.task",
            "--train-files",
            str(broken),
            "--eval-files",
            "data/eval.csv",
            "--job-dir",
            str(tmp_path / "job"),
        ],
        cwd=default_project,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: {broken}: declared column(s) island missing from the header" in result.stderr


def test_another_dataset_trains_and_serves(template, tmp_path, gcloud_env):
    """A regression on house prices: unused columns, and missing values as empty strings."""
    project = render(
        template,
        tmp_path / "houses",
        project_name="House Prices",
        task_type="regression",
        label_column="price",
        numeric_features=["rooms", "area_m2"],
        categorical_features=["city"],
        model_type="wide_deep",
    )
    for name, n in (("train.csv", 300), ("eval.csv", 60)):
        write_houses(tmp_path / name, n)
    job_dir = tmp_path / "job"
    result = run(
        [
            "python",
            "-m",
            "trainer.task",
            "--train-files",
            str(tmp_path / "train.csv"),
            "--eval-files",
            str(tmp_path / "eval.csv"),
            "--job-dir",
            str(job_dir),
            "--num-epochs",
            "5",
        ],
        cwd=project,
    )
    assert "Dropped 11 row(s) with no 'price' value" in result.stderr

    instances = tmp_path / "instances.json"
    instances.write_text(
        json.dumps({"city": "Oslo", "rooms": 3.0, "area_m2": 70.0})
        + "\n"
        + json.dumps({"city": "", "rooms": 2.0, "area_m2": 45.0})
        + "\n"
    )
    predictions = local_predict(job_dir / "model", instances, project, gcloud_env)
    assert len(predictions) == 2
    assert all(set(p) == {"predictions"} and p["predictions"] > 0 for p in predictions)
