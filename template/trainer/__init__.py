"""The trainer package: `python -m trainer.task` trains, evaluates and exports the model."""
