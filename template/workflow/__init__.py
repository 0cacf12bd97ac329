"""The workstation side of the project: what runs on a person's machine or in CI, never in the
training job. It is the template's own: `copier update` brings its fixes, and its behaviour is
set from config/ (data.yaml, cloud.yaml, tiers.yaml, hptuning.yaml, serving.yaml), not by edits
here (docs/layout.md says which files are yours). `python -m workflow --help` lists its commands.

Data preparation (`data`, `shards`, `split_stats`), staging in Cloud Storage (`staging`, `gcs`),
the local tuning sweep (`sweep`), scoring a model (`evaluate`), sample instances (`instances`),
serving (`serving`) and the Vertex AI tooling (`cloud`).

It imports from the job package, and `trainer/` never imports this package, so nothing here
ships to a cloud machine. What it imports:
- modules without TensorFlow: `trainer.schema`, `trainer.features` (the project's schema),
  `trainer.kinds` (the feature kinds, which import NumPy, TensorFlow and Keras only in the
  methods that need them), `trainer.hparams`, `trainer.trial`, `trainer.csv_reader` (the one
  CSV reader, whose checks and messages prepare shares with the job), `trainer.stats` (the
  statistics and the stats file, with numpy), and `trainer.task` for its argument parser only
  (task.py imports TensorFlow after parsing), so that the tuning config is checked against the
  trainer's own flags;
- `trainer.inputs`, TensorFlow's input pipeline, in `evaluate` only: scoring a model needs
  TensorFlow anyway, and reads the files as training reads them.
"""
