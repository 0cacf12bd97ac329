"""workflow/gcs.py against a storage emulator and a bucket-metadata endpoint: the location check,
bucket creation, and uploads that skip unchanged files."""

from __future__ import annotations

import sys

import pytest

from endpoints import bucket_metadata_endpoint

from conftest import ROOT, storage_client

sys.path.insert(0, str(ROOT / "template"))
from workflow import gcs


@pytest.fixture
def metadata():
    endpoint = bucket_metadata_endpoint(
        {
            "good": ("US-CENTRAL1", "region"),
            "multi": ("US", "multi-region"),
            "dual": ("NAM4", "dual-region"),
            "elsewhere": ("EUROPE-WEST4", "region"),
        }
    )
    yield endpoint
    endpoint.stop()


def test_a_single_region_bucket_in_the_jobs_region_passes(metadata):
    bucket = gcs.check_bucket(storage_client(metadata.url), "good", "us-central1")
    assert bucket.name == "good"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "multi",
            "gs://multi is a multi-region bucket (us); "
            "Vertex AI needs a single-region bucket in us-central1",
        ),
        ("dual", "gs://dual is a dual-region bucket (nam4)"),
        ("elsewhere", "gs://elsewhere is in europe-west4, but the job runs in us-central1"),
        ("missing", "gs://missing does not exist"),
    ],
)
def test_a_wrong_bucket_is_refused_with_the_fix(metadata, name, message):
    with pytest.raises(gcs.BucketError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gcs.check_bucket(storage_client(metadata.url), name, "us-central1")


def test_a_mismatch_is_only_a_warning_when_allowed(metadata, caplog):
    gcs.check_bucket(storage_client(metadata.url), "multi", "us-central1", allow_multi_region=True)
    assert "multi-region" in caplog.text


def test_upload_skips_unchanged_files_and_resends_changed_ones(storage_emulator, tmp_path):
    client = storage_client(storage_emulator)
    bucket = client.create_bucket("uploads-test")
    local = tmp_path / "train.csv"
    local.write_bytes(b"a,b\n1,2\n")
    assert gcs.upload_if_changed(bucket, str(local), "data/train.csv") is True
    assert bucket.blob("data/train.csv").download_as_bytes() == local.read_bytes()
    assert gcs.upload_if_changed(bucket, str(local), "data/train.csv") is False
    local.write_bytes(b"a,b\n1,3\n")
    assert gcs.upload_if_changed(bucket, str(local), "data/train.csv") is True
    assert bucket.blob("data/train.csv").download_as_bytes() == b"a,b\n1,3\n"


def test_split_uri():
    assert gcs.split_uri("gs://b/data/x.csv") == ("b", "data/x.csv")
    with pytest.raises(ValueError, match="not a gs:// URI"):
        gcs.split_uri("/local/x.csv")
