"""Running the trainer on Vertex AI: the scale-tier presets, the job specs, the checks before
anything is sent, and the `gcloud` commands that send it (`python -m workflow.cloud.submit`).

These modules run on a developer's machine, never in the training job, and none of them
imports TensorFlow.
"""
