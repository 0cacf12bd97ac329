"""The train/serve parity check of a generated project (make parity-check), for real: models that
the trainer exports with the training TensorFlow (requirements.txt's pin) load in the TensorFlow
of the prebuilt prediction image (config/serving.yaml: tf2-cpu.2-15, so TensorFlow 2.15 in a
virtualenv of its own) and serve the same outputs on the instances; a model that serves
otherwise is refused, with both versions and the fix named.

The serving TensorFlow's virtualenv is made once and kept in the tests' cache outside the
checkout (conftest.TEST_CACHE): only the first run on a machine downloads TensorFlow 2.15 (a
207 MB wheel; 1.3 GB installed). Each project's build/parity-venv, where the check keeps it,
links there. Training is one epoch: parity is about the export, not
about accuracy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import HOUSES_ANSWERS, ROOT, TEST_CACHE, VENV_BIN, render, run, write_houses

pytestmark = pytest.mark.xdist_group("parity")

PYTHON = str(VENV_BIN / "python")
MODEL_TYPES = ("dnn", "wide_deep", "linear")
TRAINED_TF = re.search(
    r"^tensorflow-cpu==(\S+);", (ROOT / "template/requirements.txt").read_text(), re.MULTILINE
)[1]
SERVED_TF = "2.15."
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
# A SavedModel with the serving signature's shape whose outputs change from one run to the next
# (unseeded noise), as a serving TensorFlow that computes otherwise would.
NOISY_MODEL = """
import sys
import tensorflow as tf

class Noisy(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="body_mass_g")])
    def serve(self, body_mass_g):
        return {"predictions": body_mass_g + tf.random.uniform(tf.shape(body_mass_g))}

noisy = Noisy()
tf.saved_model.save(noisy, sys.argv[1], signatures={"serving_default": noisy.serve})
"""

# `python -m trainer.task` for each model type named in argv, one epoch each, in one process.
TRAIN_EACH_MODEL_TYPE = """
import sys
from trainer import task

for model_type in sys.argv[1:]:
    status = task.main([
        "--job-dir", f"outputs/parity-{model_type}", "--model-type", model_type,
        "--num-epochs", "1", "--train-files", "data/train.csv", "--eval-files", "data/eval.csv",
    ])
    if status:
        sys.exit(status)
"""


@pytest.fixture(scope="session")
def serving_venv() -> Path:
    """Where the serving TensorFlow's virtualenv lives across test runs and fresh clones (the
    project's check makes it, and remakes it when its marker differs)."""
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    return TEST_CACHE / "parity-venv"


def use_serving_venv(project: Path, venv: Path) -> None:
    link = project / "build/parity-venv"
    if not link.is_symlink():
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(venv, target_is_directory=True)


def max_difference(output: str, name: str) -> float:
    return float(re.search(rf"^  {name}: max abs difference (\S+)$", output, re.MULTILINE)[1])


@pytest.mark.long
def test_every_model_type_serves_alike_in_the_prediction_images_tensorflow(
    default_project, serving_venv
):
    # The three exports in one process: TensorFlow is imported once, not once per model.
    run(
        [PYTHON, "-c", TRAIN_EACH_MODEL_TYPE, *MODEL_TYPES],
        cwd=default_project,
    )
    use_serving_venv(default_project, serving_venv)
    models = [f"outputs/parity-{model_type}/model" for model_type in MODEL_TYPES]
    result = run([PYTHON, "-m", "workflow.serving.parity", *models], cwd=default_project)

    reports = result.stdout.split("Parity holds for ")[1:]
    assert len(reports) == len(MODEL_TYPES), result.stdout
    for model, report in zip(models, reports, strict=True):
        assert report.startswith(
            f"{model} on 3 instance(s) of data/instances.json: TensorFlow {TRAINED_TF} "
            f"(training) and {SERVED_TF}"
        ), report
        assert f"({IMAGE}) serve the same outputs." in report
        assert "\n  classes: identical\n" in report
        assert max_difference(report, "probabilities") <= 1e-5


def test_a_regression_with_missing_values_serves_alike_through_make(
    template, tmp_path, serving_venv
):
    """Numbers, categories and a date, each with missing values, in wide_deep: the date is
    parsed and encoded by the model's own ops, the agent's id (40 values, more than
    max_vocabulary) hashed by them, and the numbers put in quantile buckets (a missing one in
    its own) and crossed, which must compute alike in both TensorFlows."""
    project = render(template, tmp_path / "houses", **HOUSES_ANSWERS, numeric_buckets=4)
    write_houses(project / "data/houses.csv")
    make = ["make", "--silent", f"VENV={VENV_BIN.parent}"]
    run(
        [*make, "prepare", "RAW_DATA=data/houses.csv", "PREPARE_ARGS=--key listing_id"],
        cwd=project,
    )
    # Missing values as the signature takes them: null for a number, "" for a category or a
    # date; dates and date-times as the CSV writes them, parsed inside the model.
    (project / "data/instances.json").write_text(
        '{"city": "", "agent_id": "agent-3", "rooms": null, "area_m2": 50.0, '
        '"listing_date": "2022-12-31T23:59:59Z"}\n'
        '{"city": "Oslo", "agent_id": "", "rooms": 3, "area_m2": null, "listing_date": ""}\n'
        '{"city": "Kyoto", "agent_id": "an agent never seen", "rooms": 2, "area_m2": 80.0, '
        '"listing_date": "2024-02-29"}\n'
    )
    assert json.loads((project / "data/stats.json").read_text())["train"]["hashed"] == {
        "agent_id": 40
    }
    use_serving_venv(project, serving_venv)
    result = run([*make, "train", "parity-check", "TRAINER_ARGS=--num-epochs 1"], cwd=project)
    assert "hashed into 8192 bins" in result.stderr + result.stdout
    assert "Parity holds for outputs/local/model on 3 instance(s)" in result.stdout
    assert max_difference(result.stdout, "predictions") <= 1e-5


def test_a_model_served_otherwise_is_refused_with_both_versions_and_the_fix(
    default_project, serving_venv, tmp_path
):
    model = tmp_path / "noisy"
    run([PYTHON, "-c", NOISY_MODEL, str(model)])
    use_serving_venv(default_project, serving_venv)
    result = run(
        [PYTHON, "-m", "workflow.serving.parity", str(model)], cwd=default_project, check=False
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert re.search(
        rf"^error: train/serve parity is broken: TensorFlow {re.escape(SERVED_TF)}\S*, the "
        rf"TensorFlow of the serving image {re.escape(IMAGE)}, serves {re.escape(str(model))} "
        rf"otherwise than TensorFlow {re.escape(TRAINED_TF)}, which trained it",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
    assert re.search(r"^  predictions: max abs difference \S+ > 1e-05$", result.stderr, re.M)
    assert (
        f"The fix: serve the model on a custom serving image that runs TensorFlow {TRAINED_TF}"
    ) in result.stderr
