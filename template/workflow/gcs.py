"""Cloud Storage for the job: the bucket's location check, creating a bucket the right way, and
uploads that skip files whose bytes are already there.

Training reads its data from a bucket in the job's own region: Vertex AI refuses a bucket in
another region, and the default multi-region location is slower and dearer for training.
No TensorFlow here, so the scripts that stage data and packages start fast.
"""

from __future__ import annotations

import base64
import logging
import os
import re

import google_crc32c
from google.api_core import exceptions
from google.cloud import storage
from tqdm import tqdm

# Files above this size upload in resumable chunks, with a progress bar.
RESUMABLE_THRESHOLD = 16 * 1024 * 1024
CHUNK_SIZE = 8 * 1024 * 1024  # a multiple of 256 KiB, as resumable uploads require


class BucketError(Exception):
    """A bucket that training cannot use; the message says how to fix it."""


class BucketNotFound(BucketError):
    """The bucket does not exist (yet)."""


_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a valid Cloud Storage bucket name, or None. The same rules as the
    `bucket` question in copier.yml, so that a name passed by hand is checked before any request."""
    if not _BUCKET_NAME.fullmatch(name):
        return (
            f"'{name}' is not a valid bucket name: 3-63 characters of lowercase letters, digits, "
            "'-', '_' and '.', starting and ending with a letter or digit"
        )
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        return f"'{name}' is not allowed: names may not start with 'goog' or contain 'google'"
    if _IP_ADDRESS.fullmatch(name):
        return f"'{name}' is not allowed: names may not look like an IP address"
    if ".." in name or ".-" in name or "-." in name:
        return f"'{name}' is not allowed: dots may not be next to another dot or a hyphen"
    return None


def split_uri(uri: str) -> tuple[str, str]:
    """'gs://bucket/a/b.csv' -> ('bucket', 'a/b.csv')."""
    if not uri.startswith("gs://") or len(uri) <= len("gs://"):
        raise ValueError(f"{uri!r} is not a gs:// URI")
    bucket, _, path = uri[len("gs://") :].partition("/")
    return bucket, path


def location_problem(bucket: storage.Bucket, region: str) -> str | None:
    """Why `bucket` is wrong for training in `region`, or None when it is a match."""
    location = (bucket.location or "").lower()
    location_type = (bucket.location_type or "").lower()
    if location_type != "region":
        return (
            f"gs://{bucket.name} is a {location_type or 'multi-region'} bucket ({location}); "
            f"Vertex AI needs a single-region bucket in {region}"
        )
    if location != region.lower():
        return (
            f"gs://{bucket.name} is in {location}, but the job runs in {region}; "
            "Vertex AI needs the bucket in the job's region"
        )
    return None


def check_bucket(
    client: storage.Client, name: str, region: str, allow_multi_region: bool = False
) -> storage.Bucket:
    """The bucket, after checking it exists in `region`. With `allow_multi_region`, a
    location mismatch is a warning instead of a BucketError."""
    try:
        bucket = client.get_bucket(name)
    except exceptions.NotFound:
        raise BucketNotFound(
            f"gs://{name} does not exist; create it with `make stage-data`, or with "
            f"`{create_bucket_command(name, region)}`"
        ) from None
    problem = location_problem(bucket, region)
    if problem and not allow_multi_region:
        raise BucketError(
            f"{problem}. Use a bucket in {region} (or pass --allow-multi-region to accept it)."
        )
    if problem:
        logging.warning("%s; going on because --allow-multi-region was given", problem)
    return bucket


def create_bucket_command(name: str, region: str, project: str | None = None) -> str:
    """The gcloud command that creates the bucket as `create_bucket` does."""
    return " ".join(
        [
            f"gcloud storage buckets create gs://{name}",
            *([f"--project={project}"] if project else []),
            f"--location={region} --uniform-bucket-level-access --public-access-prevention",
        ]
    )


def create_bucket(client: storage.Client, name: str, region: str) -> storage.Bucket:
    """A new single-region bucket in `region`, private: uniform bucket-level access, and
    public access prevention enforced."""
    bucket = client.bucket(name)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = "enforced"
    return client.create_bucket(bucket, location=region)


def crc32c(path: str) -> str:
    """The file's CRC32C as Cloud Storage reports it: base64 of the big-endian checksum."""
    checksum = google_crc32c.Checksum()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
            checksum.update(chunk)
    return base64.b64encode(checksum.digest()).decode()


def upload_if_changed(
    bucket: storage.Bucket, local_path: str, blob_name: str, progress: bool = True
) -> bool:
    """Uploads `local_path` to `blob_name` unless the remote object has the same CRC32C.
    Returns whether it uploaded."""
    blob = bucket.get_blob(blob_name)
    local_crc = crc32c(local_path)
    if blob is not None and blob.crc32c == local_crc:
        return False
    size = os.path.getsize(local_path)
    blob = bucket.blob(blob_name, chunk_size=CHUNK_SIZE if size > RESUMABLE_THRESHOLD else None)
    with open(local_path, "rb") as f:
        if progress and size > RESUMABLE_THRESHOLD:
            with (
                tqdm(total=size, unit="B", unit_scale=True, desc=blob_name) as bar,
                bar.wrapattr(f, "read") as wrapped,
            ):
                blob.upload_from_file(wrapped, size=size, checksum="crc32c")
        else:
            blob.upload_from_file(f, size=size, checksum="crc32c")
    return True
