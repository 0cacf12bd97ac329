"""Reports the tuning metric to Vertex AI through cloudml-hypertune, after every evaluation.

cloudml-hypertune writes one JSON line per report to `$CLOUD_ML_HP_METRIC_FILE` (default
`/tmp/hypertune/output.metrics`), which Vertex AI reads: TensorBoard summaries are not
reported. The tag is the study's metricId; `global_step` is the number of epochs trained.
The last report is the final evaluation of the trained model (after early stopping restored the
best weights), so it equals the metrics the trainer returns and writes to metrics.json; Vertex AI
takes the last report as the trial's result unless the study selects the best one.

`trainer.task` adds this callback on the chief only, and only in a tuning trial.
"""

from __future__ import annotations

import hypertune
import keras


class HypertuneReporter(keras.callbacks.Callback):
    """Reports `metric` (a name as `fit` logs it, such as val_accuracy) after each evaluation:
    the validation at the end of every epoch, and the final `evaluate`. Give it to both."""

    def __init__(self, metric: str):
        super().__init__()
        if not metric.startswith("val_"):
            raise ValueError(
                f"the tuning metric must be an evaluation metric (val_*), not {metric}"
            )
        self.metric = metric
        self._name = metric.removeprefix("val_")  # `evaluate` logs it without the prefix
        self._epochs = 0
        self._hypertune = hypertune.HyperTune()

    def on_epoch_begin(self, epoch, logs=None):
        self._epochs = epoch + 1  # counts from a resumed epoch too

    def on_test_end(self, logs=None):
        logs = logs or {}
        if self._name not in logs:
            raise ValueError(
                f"the tuning metric {self.metric} is not among the evaluation metrics "
                f"({', '.join('val_' + name for name in logs)}); fix --hypertune-metric or "
                "config/hptuning.yaml's metricId"
            )
        self._hypertune.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag=self.metric,
            metric_value=logs[self._name],
            global_step=self._epochs,
        )
