"""Vertex AI's REST API, for the one request that gcloud has no command for: creating a batch
prediction job. It goes where gcloud's own Vertex AI commands go (gcloud's
api_endpoint_overrides/aiplatform property when set, else the region's endpoint), with the
Application Default Credentials, which the Cloud Storage checks use too. No SDK: google-auth and
requests come with google-cloud-storage."""

from __future__ import annotations

import json

import google.auth
import google.auth.exceptions
import requests
from google.auth.transport.requests import AuthorizedSession

from workflow.cloud import gcloud
from workflow.cloud.settings import CloudSettings
from workflow.serving.vertex import ServingError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
TIMEOUT_SECONDS = 60


def api_root(cloud: CloudSettings) -> str:
    """The root URL of gcloud's Vertex AI requests in the project's region, ending in '/'."""
    override = gcloud.run(["config", "get", "api_endpoint_overrides/aiplatform"], show=False)
    root = override.strip() or f"https://{cloud.region}-aiplatform.googleapis.com/"
    return root if root.endswith("/") else f"{root}/"


def collection_url(root: str, cloud: CloudSettings, collection: str) -> str:
    return f"{root}v1/projects/{cloud.project}/locations/{cloud.region}/{collection}"


def _error_message(response) -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text.strip()[:500] or response.reason


def post(url: str, body: dict) -> dict:
    """POSTs `body` as JSON with the Application Default Credentials; returns the answer."""
    try:
        credentials, _ = google.auth.default(scopes=SCOPES)
    except google.auth.exceptions.DefaultCredentialsError:
        raise ServingError(
            "no Application Default Credentials for Vertex AI's API: run "
            "`gcloud auth application-default login`"
        ) from None
    try:
        response = AuthorizedSession(credentials).post(url, json=body, timeout=TIMEOUT_SECONDS)
    except (requests.RequestException, google.auth.exceptions.TransportError) as err:
        raise ServingError(f"Vertex AI could not be reached at {url}: {err}") from None
    if not response.ok:
        raise ServingError(
            f"Vertex AI refused POST {url} ({response.status_code}): {_error_message(response)}"
        )
    try:
        return response.json()
    except json.JSONDecodeError:
        raise ServingError(f"Vertex AI answered POST {url} with no JSON") from None
