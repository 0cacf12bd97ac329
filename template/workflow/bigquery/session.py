"""What every BigQuery command starts from: the project's settings and clients, the source from
its metadata (checked to be where BigQuery may read and export it), and its jobs. CSV files in
Cloud Storage are loaded into a work table only once the queries are priced, so that a dry run
sends nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from google.api_core import exceptions
from google.cloud import bigquery, storage

from trainer.csv_reader import DataError
from workflow.bigquery import jobs, locations, source
from workflow.cloud.settings import CloudSettings, load_settings
from workflow.data.settings import settings

WORK_TABLE_DAYS = 1
LOADED_NOTE = " (about the files' size each: they are loaded first, which is free)"


@dataclass(frozen=True)
class Session:
    cloud: CloudSettings
    client: bigquery.Client
    storage: storage.Client
    table: source.Table
    jobs: jobs.Jobs
    run: str  # this run's name: a UTC time

    def priced(self, steps: list[tuple[str, str]], dry_run: bool) -> str:
        """The cost line of the queries `steps` [(step, SQL)], each dry-run. Files in Cloud
        Storage are loaded first; in a dry run they are not, and their size stands for each
        query's bytes."""
        if self.table.files is not None:
            if dry_run:
                return self.jobs.cost_line([(s, self.table.size) for s, _ in steps], LOADED_NOTE)
            self._load()
        return self.jobs.cost_line([(step, self.jobs.dry_run(step, sql)) for step, sql in steps])

    def _load(self) -> None:
        """Loads the gs:// files into the work table, in a dataset of the table's location
        whose tables expire after a day (created when missing)."""
        table, client = self.table, self.client
        dataset_id = f"{self.cloud.project}.{settings().bigquery.work_dataset}"
        try:
            found = client.get_dataset(dataset_id)
        except exceptions.NotFound:
            made = bigquery.Dataset(dataset_id)
            made.location = table.location
            made.default_table_expiration_ms = WORK_TABLE_DAYS * 24 * 3600 * 1000
            made.labels = self.jobs.labels("work-dataset")
            found = client.create_dataset(made, exists_ok=True)
        if found.location and found.location.lower() != table.location.lower():
            raise DataError(
                f"BigQuery dataset {dataset_id} is in {found.location}, not in the project's "
                f"region {table.location}; name another work_dataset in config/data.yaml "
                "(bigquery)"
            )
        name = table.sql_name.strip("`")
        self.jobs.load_csv("load", table.files, name, table.stored)
        loaded = client.get_table(name)
        loaded.expires = datetime.now(timezone.utc) + timedelta(days=WORK_TABLE_DAYS)
        client.update_table(loaded, ["expires"])


def open_session(uri: str) -> Session:
    """The session of a bq:// or gs:// source, from metadata alone: nothing is sent but reads."""
    cloud = load_settings(Path("config"))
    client = jobs.connect(cloud)
    storage_client = storage.Client(project=cloud.project)
    run = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    if uri.startswith("gs://"):
        work_table = f"{cloud.project}.{settings().bigquery.work_dataset}.raw_{run.lower()}"
        table = source.files(uri, storage_client, work_table, cloud.region)
    else:
        table = source.table(uri, client)
    locations.check(table, cloud, storage_client)
    bq = jobs.Jobs(client, cloud, settings().bigquery, Path.cwd(), table.location)
    return Session(cloud, client, storage_client, table, bq, run)
