"""BigQuery's jobs as the prepare sends them: each with the project's labels and the step's, each
capped by maximumBytesBilled from config/data.yaml so that BigQuery itself refuses a runaway
query, and each dry-run first, for the bytes it will scan and what they cost.

The client goes where gcloud's own BigQuery commands go: gcloud's api_endpoint_overrides/bigquery
property when set (an emulator, in the tests), else Google's endpoint; with the Application
Default Credentials, as the Cloud Storage checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import google.auth
import google.auth.exceptions
from google.api_core import exceptions
from google.cloud import bigquery

from trainer.csv_reader import DataError
from workflow.cloud import gcloud, labels
from workflow.cloud.settings import CloudSettings
from workflow.data.settings import BigQuerySettings

TIB = 2**40
# The path of BigQuery's REST API, which gcloud's override includes and the client adds itself.
API_PATH = "bigquery/v2/"


def endpoint() -> str | None:
    """gcloud's api_endpoint_overrides/bigquery without the API's path, or None when unset."""
    override = gcloud.run(["config", "get", "api_endpoint_overrides/bigquery"], show=False)
    override = override.strip()
    if not override:
        return None
    root = override if override.endswith("/") else f"{override}/"
    return root.removesuffix(API_PATH).rstrip("/")


def connect(cloud: CloudSettings) -> bigquery.Client:
    try:
        credentials, _ = google.auth.default()
    except google.auth.exceptions.DefaultCredentialsError:
        raise DataError(
            "no Application Default Credentials for BigQuery: run "
            "`gcloud auth application-default login`"
        ) from None
    override = endpoint()
    return bigquery.Client(
        project=cloud.project,
        credentials=credentials,
        client_options={"api_endpoint": override} if override else None,
    )


def size_text(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError


@dataclass
class Jobs:
    """The prepare's BigQuery jobs, in one location, with their labels and cap."""

    client: bigquery.Client
    cloud: CloudSettings
    settings: BigQuerySettings
    root: Path
    location: str
    sent: list[tuple[str, int]] = field(default_factory=list)  # (step, bytes billed)

    def labels(self, step: str) -> dict[str, str]:
        return labels.project_labels(self.cloud, self.root, step=step)

    def _config(self, step: str, **more) -> bigquery.QueryJobConfig:
        return bigquery.QueryJobConfig(
            labels=self.labels(step),
            maximum_bytes_billed=self.settings.maximum_bytes_billed,
            use_legacy_sql=False,
            **more,
        )

    def dry_run(self, step: str, sql: str) -> int:
        """The bytes the query would scan; BigQuery runs nothing."""
        job = self._send(step, sql, self._config(step, dry_run=True, use_query_cache=False))
        return int(job.total_bytes_processed or 0)

    def query(self, step: str, sql: str) -> list[bigquery.Row]:
        """Runs the query; returns its rows."""
        job = self._send(step, sql, self._config(step))
        rows = self._call(step, job.result)
        self.sent.append((step, int(job.total_bytes_billed or 0)))
        return list(rows)

    def export(self, step: str, sql: str) -> int:
        """Runs an EXPORT DATA statement; returns how many files it wrote."""
        job = self._send(step, sql, self._config(step))
        self._call(step, job.result)
        self.sent.append((step, int(job.total_bytes_billed or 0)))
        # The client has no property for an export's statistics: read them from the resource.
        statistics = (job._properties.get("statistics") or {}).get("query") or {}
        return int((statistics.get("exportDataStatistics") or {}).get("fileCount") or 0)

    def load_csv(self, step: str, uris: list[str], table: str, columns: list[str]) -> None:
        """Loads CSV files into `table`, every column as text, the header row skipped. A load
        job is not billed by bytes, and takes no cap."""
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.CSV,
            skip_leading_rows=1,
            # A value with a line break is refused, as the local prepare refuses it (the trainer
            # reads a row per line).
            allow_quoted_newlines=False,
            schema=[bigquery.SchemaField(name, "STRING") for name in columns],
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            labels=self.labels(step),
        )
        job = self._call(
            step, lambda: self.client.load_table_from_uri(uris, table, job_config=config)
        )
        self._call(step, job.result)

    def cost_line(self, planned: list[tuple[str, int]], note: str = "") -> str:
        """One line: the queries, the bytes they scan, their on-demand price, and the cap."""
        total = sum(size for _, size in planned)
        price = self.settings.price_per_tib_usd * total / TIB
        return (
            f"BigQuery dry run: {len(planned)} queries will scan {size_text(total)}{note} "
            f"(about ${price:.2f} on demand at ${self.settings.price_per_tib_usd:g} per TiB, "
            f"price checked {self.settings.price_checked}); each job is capped at "
            f"{size_text(self.settings.maximum_bytes_billed)} billed (config/data.yaml's "
            "bigquery.maximum_bytes_billed)"
        )

    def _send(self, step: str, sql: str, config: bigquery.QueryJobConfig) -> bigquery.QueryJob:
        return self._call(
            step, lambda: self.client.query(sql, job_config=config, location=self.location)
        )

    def _call(self, step: str, call):
        try:
            return call()
        except exceptions.GoogleAPICallError as err:
            # BigQuery's own reason, on one line: not the request's URL, nor the job's id.
            reasons = [e.get("message") for e in err.errors or [] if isinstance(e, dict)]
            message = " ".join((next(filter(None, reasons), None) or err.message).split())
            raise DataError(
                f"BigQuery refused the {step} step: {message}; check that the source reads in "
                "BigQuery (its dry run: PREPARE_ARGS=--dry-run)"
            ) from None
