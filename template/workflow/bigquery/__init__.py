"""Data that lives in BigQuery or Cloud Storage, prepared where it lives: BigQuery cleans, splits
and checks it as the local prepare does (workflow/data/), and exports the split into the bucket.

- `source`: the table, view or gs:// files, from their metadata;
- `locations`: the source and the bucket where BigQuery can read and export;
- `sql`: the expressions that rebuild the local prepare's cleaning, row key and split;
- `queries`: the prepare's queries, each reading the source through the same steps;
- `checks`: the local prepare's refusals, on the checks' query's groups;
- `statistics`: the stats file of the exported split, from SQL aggregates;
- `jobs`: the client, and each job with its labels, its cap and its dry run;
- `prepare`: all of them, in an order that keeps the previous outputs until the end.

This package imports google-cloud-bigquery, which takes a second: the light names below are
what the rest of workflow/ needs without it.
"""

from __future__ import annotations

SCHEMES = ("bq://", "gs://")
# What the last prepare in BigQuery wrote, beside the local split's files: the cloud jobs read
# the files it lists (workflow/cloud/job_data.py); a local prepare removes it.
MANIFEST_NAME = "bigquery.json"


def is_remote(source: str) -> bool:
    """Whether RAW_DATA names data the prepare reads through BigQuery."""
    return source.startswith(SCHEMES)
