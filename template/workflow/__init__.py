"""The workstation side of the project: what runs on a person's machine or in CI, never in the
training job. Data preparation (`data`), staging in Cloud Storage (`staging`, `gcs`), the local
tuning sweep (`sweep`) and the Vertex AI tooling (`cloud`).

It may import the job package's pure modules (`trainer.schema`, `trainer.features`,
`trainer.hparams`, `trainer.trial`); `trainer/` never imports this package, so nothing here
ships to a cloud machine.
"""
