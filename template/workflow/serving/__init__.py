"""Serving the trained model on Vertex AI: a version in the Model Registry, deployed to the
project's endpoint (`deploy`, scripts/deploy.sh), predictions there (`predict`, make
predict-cloud), and undeploying to stop paying (`undeploy`, scripts/undeploy.sh). Each talks to
Vertex AI through `gcloud`, with the settings of config/serving.yaml and config/cloud.mk.
"""
