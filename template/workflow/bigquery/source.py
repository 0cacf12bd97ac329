"""Where the raw data lives when it is not on this machine: a BigQuery table or view
(bq://PROJECT.DATASET.TABLE), or CSV files in Cloud Storage (gs://BUCKET/raw/*.csv), which
BigQuery loads into a table of text columns first.

Why a load and not an external table: a load job is free, and its table is a snapshot, so that
every query of one prepare reads the same rows even when files change meanwhile; the queries
then scan BigQuery's own storage, billed per column read. An external table is read (and billed
whole) again by each query.
"""

from __future__ import annotations

import csv
import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.api_core import exceptions

from trainer.csv_reader import DataError
from workflow.bigquery.sql import quote_name

if TYPE_CHECKING:
    from google.cloud import bigquery, storage

# bq://PROJECT.DATASET.TABLE: a project id (a domain-scoped one has 'example.com:'), a dataset,
# and a table or view name.
TABLE_URI = re.compile(
    r"bq://(?P<project>(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9])"
    r"\.(?P<dataset>[A-Za-z0-9_]{1,1024})\.(?P<table>[^.`]{1,1024})"
)
FILES_URI = re.compile(r"gs://(?P<bucket>[a-z0-9][a-z0-9._-]{1,61}[a-z0-9])/(?P<name>.+\.csv)")
# Bytes read from the first file for its header line.
HEADER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Table:
    """What the queries read: a table's name in SQL, its columns in order, the ones that are
    not text (cast to text before cleaning), its location, and what changes when its data do."""

    uri: str  # as given: bq://... or gs://...
    sql_name: str
    columns: list[str]  # as the data name them
    stored: list[str]  # as the table names them: the same, or _c0, _c1 ... for loaded files
    typed: frozenset[str]
    location: str
    fingerprint: dict
    files: list[str] | None = None  # gs:// sources: the files, loaded before the queries
    size: int = 0  # gs:// sources: their bytes

    @property
    def is_view(self) -> bool:
        """A view's rows change with its tables, which its metadata do not show."""
        return self.fingerprint.get("type") == "VIEW"


def table(uri: str, client: bigquery.Client) -> Table:
    """The table or view that `uri` names, from its metadata alone."""
    match = TABLE_URI.fullmatch(uri)
    if not match:
        raise DataError(
            f"{uri}: not a BigQuery table; write it bq://PROJECT.DATASET.TABLE (a table or a view)"
        )
    table_id = f"{match['project']}.{match['dataset']}.{match['table']}"
    try:
        found = client.get_table(table_id)
    except exceptions.NotFound:
        raise DataError(
            f"{uri}: no such table or view in BigQuery; check the name "
            f"(bq ls {match['project']}:{match['dataset']})"
        ) from None
    if found.table_type not in ("TABLE", "VIEW", "MATERIALIZED_VIEW", "SNAPSHOT"):
        raise DataError(
            f"{uri}: a {found.table_type.lower()}, which the prepare cannot read; give a table "
            "or a view"
        )
    columns = [field.name for field in found.schema]
    nested = [
        f.name for f in found.schema if f.field_type in ("RECORD", "STRUCT") or f.mode == "REPEATED"
    ]
    if nested:
        raise DataError(
            f"{uri}: column(s) {', '.join(nested)} are records or arrays, which a CSV row cannot "
            "hold; prepare a view that selects flat columns, and give the view"
        )
    # A table is in its dataset's location (which a table's own metadata may leave out).
    location = found.location or client.get_dataset(f"{found.project}.{found.dataset_id}").location
    if not location:
        raise DataError(f"{uri}: BigQuery reports no location for its dataset")
    return Table(
        uri=uri,
        sql_name=quote_name(table_id),
        columns=columns,
        stored=columns,
        typed=frozenset(f.name for f in found.schema if f.field_type != "STRING"),
        location=location,
        fingerprint={
            "type": found.table_type,
            "modified": found.modified.isoformat() if found.modified else None,
            "rows": found.num_rows,
            "bytes": found.num_bytes,
            "etag": found.etag,
        },
    )


def files(uri: str, storage_client: storage.Client, work_table: str, location: str) -> Table:
    """CSV files in Cloud Storage, as the table they will be loaded into (`work_table`, in
    `location`): their header from the first file's first bytes, their list and generations from
    their metadata. Nothing is downloaded whole."""
    match = FILES_URI.fullmatch(uri)
    if not match:
        raise DataError(
            f"{uri}: not CSV files in Cloud Storage; write them gs://BUCKET/PATH/NAME.csv, with "
            "* for any characters (gs://my-bucket/raw/*.csv)"
        )
    name = match["name"]
    prefix = re.split(r"[*?\[]", name, maxsplit=1)[0]
    try:
        blobs = [
            blob
            for blob in storage_client.list_blobs(match["bucket"], prefix=prefix)
            if fnmatch.fnmatchcase(blob.name, name)
        ]
    except exceptions.NotFound:
        raise DataError(f"{uri}: no bucket gs://{match['bucket']}") from None
    if not blobs:
        raise DataError(f"{uri}: no file matches it in gs://{match['bucket']}")
    blobs.sort(key=lambda blob: blob.name)
    first = blobs[0]
    head = first.download_as_bytes(start=0, end=HEADER_BYTES - 1)
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    if not line.strip():
        raise DataError(f"gs://{first.bucket.name}/{first.name}: no header line")
    columns = next(csv.reader([line.decode("utf-8-sig")]))
    return Table(
        uri=uri,
        sql_name=quote_name(work_table),
        columns=columns,
        stored=[f"_c{i}" for i in range(len(columns))],
        typed=frozenset(),
        location=location,
        fingerprint={
            "files": [[blob.name, blob.generation, blob.size] for blob in blobs],
        },
        files=[f"gs://{match['bucket']}/{blob.name}" for blob in blobs],
        size=sum(blob.size or 0 for blob in blobs),
    )
