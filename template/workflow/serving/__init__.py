"""Serving the trained model on Vertex AI: a version in the Model Registry, deployed to the
project's endpoint (`deploy`, scripts/deploy.sh), predictions there (`predict`, make
predict-cloud), undeploying to stop paying (`undeploy`, scripts/undeploy.sh), and batch
prediction jobs on the registered model (`batch`, make batch-predict). They talk to Vertex AI
through `gcloud` (batch jobs, which gcloud lacks, through the REST API: `rest`), with the settings
of config/serving.yaml and config/cloud.mk. `parity` (make parity-check) checks, on this machine,
that the serving image's older TensorFlow serves the exported model as the training one does.
"""
