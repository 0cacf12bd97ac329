"""Where the prepare in BigQuery may run: the data, the queries and the exports in one place.

BigQuery runs a query in its source's location, and exports to (or loads from) a bucket only in
that location: a single-region dataset takes a bucket of the same region; a US or EU multi-region
dataset, a bucket in a region inside it. The project's rule is a single-region bucket in the
job's region (`make stage-data` checks it too), so the source must be in that region, or in the
multi-region around it. Each is checked from metadata before any job is sent.
"""

from __future__ import annotations

from google.api_core import exceptions
from google.cloud import storage

from trainer.csv_reader import DataError
from workflow import gcs
from workflow.bigquery.source import Table
from workflow.cloud.settings import CloudSettings

# BigQuery's multi-regions, by the prefix of the regions inside them.
MULTI_REGIONS = {"us": "us-", "eu": "europe-"}


def holds(location: str, region: str) -> bool:
    """Whether data in `location` (a region or a multi-region) can be exported to, or loaded
    from, a bucket in `region`."""
    location, region = location.lower(), region.lower()
    return location == region or region.startswith(MULTI_REGIONS.get(location, "\0"))


def check(table: Table, cloud: CloudSettings, client: storage.Client) -> None:
    """The project's bucket is a single-region one in its region, and the source is where
    BigQuery can read it and export to that bucket; else one DataError naming the fix."""
    try:
        gcs.check_bucket(client, cloud.bucket, cloud.region)
    except gcs.BucketError as err:
        raise DataError(f"the exports' bucket: {err}") from None
    where = "BigQuery dataset"
    location = table.location
    if table.files is not None:  # gs:// files: their bucket's location
        name = gcs.split_uri(table.files[0])[0]
        try:
            location = client.get_bucket(name).location or ""
        except exceptions.NotFound:
            raise DataError(f"{table.uri}: no bucket gs://{name}") from None
        where = f"bucket gs://{name}"
    if not holds(location, cloud.region):
        raise DataError(
            f"{table.uri}: its {where} is in {location}, but the project's bucket "
            f"gs://{cloud.bucket} is in {cloud.region}, and BigQuery exports and loads only "
            f"within one location; copy the data to {cloud.region} (or to the multi-region that "
            f"holds it), or prepare it in a project whose region is {location.lower()}"
        )
