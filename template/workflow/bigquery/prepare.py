"""`make prepare RAW_DATA=bq://PROJECT.DATASET.TABLE` (or 'gs://BUCKET/raw/*.csv'): the prepare
where the data lives. BigQuery cleans and splits the rows as the local prepare does (the same
rows in train and eval: workflow/bigquery/sql.py), checks them, and exports each split as CSV
files straight into the project's bucket; nothing but counts and a few instances comes back.

Order, so that a refusal changes nothing and a re-run is safe:
1. the source's metadata, and its columns checked against the project's schema;
2. unchanged since the last prepare (data/bigquery.json)? Then say so, and stop;
3. a dry run of every query: the bytes and their price (`--dry-run` stops here);
4. the checks' query, then one EXPORT DATA per file set, into a new folder of the bucket,
   gs://BUCKET/data/bigquery/RUN/, and the stats file of those files beside them;
5. the switch: data/bigquery.json (what the cloud jobs read) and data/instances.json replace the
   previous ones together. Until then, the previous prepare's files stay as they were; the
   folder of a run that stopped before its switch is never read (remove it with
   `gcloud storage rm -r`).
"""

from __future__ import annotations

import argparse
import functools
import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from trainer.csv_reader import DataError
from trainer.schema import Schema
from trainer.stats import STATS_FILE_NAME, DescribedFiles, StatsFile, check_training_stats
from workflow import shards
from workflow.bigquery import MANIFEST_NAME, jobs, source, statistics
from workflow.bigquery.checks import GroupChecks
from workflow.bigquery.queries import Queries
from workflow.bigquery.session import Session, open_session
from workflow.cloud.settings import staged_uri
from workflow.data.picking import write_instances
from workflow.data.prepare import check_columns
from workflow.data.reading import project_schema
from workflow.data.settings import SPLITS, settings, split_percents
from workflow.data.swap import Staging
from workflow.gcs import split_uri

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class Plan:
    """One prepare, before anything is sent: the source, its queries, where the files go."""

    args: argparse.Namespace
    session: Session
    schema: Schema
    queries: Queries
    state: dict  # what the outputs depend on: unchanged, no new prepare

    @property
    def table(self) -> source.Table:
        return self.session.table

    @property
    def run(self) -> str:
        return self.session.run

    @property
    def prefix(self) -> str:
        return staged_uri(self.session.cloud.bucket, f"bigquery/{self.run}/")

    @property
    def splits(self) -> list[str]:
        return list(self.queries.shards)

    @functools.cached_property
    def exports(self) -> list[tuple[str, str, str]]:
        """(split, EXPORT DATA, its files' URI pattern) for each file set."""
        out = []
        for split, count in self.queries.shards.items():
            for shard in range(count) if count > 1 else [None]:
                uri = export_uri(self.prefix, split, shard, count)
                out.append((split, self.queries.export(uri, split, shard), uri))
        return out

    def steps(self) -> list[tuple[str, str]]:
        """Every query, in the order it runs: (step, SQL). The vocabularies' query is priced
        with every column it may count; it runs with those that get a vocabulary."""
        candidates = statistics.vocabulary_candidates(self.queries)
        return [
            ("checks", self.queries.checks()),
            *((f"export-{split}", text) for split, text, _ in self.exports),
            ("statistics", statistics.moments_query(self.queries)),
            *(
                [("vocabularies", statistics.values_query(self.queries, candidates))]
                if candidates
                else []
            ),
        ]


def prepare(args: argparse.Namespace) -> list[str]:
    """The prepare in BigQuery of `args.input`, with the local prepare's flags; returns the
    report's lines. A refusal (DataError) leaves every previous output as it was."""
    plan = make_plan(args, open_session(args.input))
    out_dir = Path(args.out_dir)
    previous = read_manifest(out_dir / MANIFEST_NAME)
    if previous and previous.get("state") == plan.state and not plan.table.is_view:
        return [
            f"{args.input}: unchanged since the prepare of {previous['run']} "
            f"({previous['prefix']}); nothing was sent or changed"
        ]
    bq = plan.session.jobs
    steps = plan.steps()
    lines = [plan.session.priced(steps, args.dry_run)]
    if args.dry_run:
        return lines
    checks = GroupChecks(args.input, plan.table.columns, plan.schema, plan.splits)
    for group in bq.query("checks", steps[0][1]):
        checks.add(group)
    checks.finish(args.key)
    written: dict[str, list[str]] = {split: [] for split in plan.splits}
    for split, text, uri in plan.exports:
        count = bq.export(f"export-{split}", text)
        written[split] += [uri.replace("*", f"{i:012d}") for i in range(count)]
    stats_uri, stats_lines = write_stats(plan, bq, written)
    lines += [
        *checks.report.lines(args.input, plan.schema.label),
        *(
            f"{plan.prefix}{split}-*.csv: {checks.rows[split]} rows "
            f"({100 * checks.rows[split] / max(sum(checks.rows.values()), 1):.1f}%) in "
            f"{len(written[split])} file(s)"
            for split in plan.splits
        ),
        *stats_lines,
    ]
    manifest = {
        "format": MANIFEST_FORMAT,
        "run": plan.run,
        "prefix": plan.prefix,
        "stats": stats_uri,
        "state": plan.state,
        "splits": {
            split: {"files": files, "rows": checks.rows[split]} for split, files in written.items()
        },
        "bytes_billed": sum(size for _, size in bq.sent),
    }
    return lines + switch(plan, checks, manifest, out_dir)


def make_plan(args: argparse.Namespace, session: Session) -> Plan:
    """The source checked against the project's schema, and its queries."""
    schema = project_schema()
    label = args.label or schema.label
    percents = split_percents(args.train_fraction, args.eval_fraction, args.test_fraction)
    data = settings()
    table = session.table
    check_columns(args.input, table.columns, schema, label)
    if args.key and args.key not in table.columns:
        raise DataError(
            f"{args.input}: the key column '{args.key}' is not among its columns "
            f"({', '.join(table.columns)})"
        )
    shard_counts = {"train": args.shards, "eval": args.eval_shards}
    queries = Queries(
        table=table,
        schema=schema,
        label=label,
        tokens=data.missing_tokens,
        percents=percents,
        key=args.key,
        shards={split: shard_counts.get(split, 1) for split in SPLITS if percents[split]},
    )
    state = {
        "source": args.input,
        "input": table.fingerprint,
        "schema": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(schema).items()},
        "label": label,
        "missing_tokens": sorted(data.missing_tokens),
        "percents": percents,
        "key": args.key,
        "shards": queries.shards,
    }
    return Plan(args, session, schema, queries, state)


def switch(plan: Plan, checks: GroupChecks, manifest: dict, out_dir: Path) -> list[str]:
    """data/bigquery.json and data/instances.json replace the previous ones together."""
    args = plan.args
    source_split = next(name for name in ("eval", "test", "train") if name in plan.splits)
    with Staging() as staging:
        lines = [
            write_instances(
                args.input,
                plan.table.columns,
                checks.instances(),
                f"{plan.prefix}{source_split}-*.csv",
                Path(args.instances or out_dir / "instances.json"),
                schema=plan.schema,
                staging=staging,
            )
        ]
        with staging.open(out_dir / MANIFEST_NAME) as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        staging.switch()
    lines.append(
        f"{out_dir / MANIFEST_NAME}: the cloud jobs (make submit) now read these files; "
        f"`make train` still trains on the local split, if any. BigQuery billed "
        f"{jobs.size_text(manifest['bytes_billed'])}"
    )
    return lines


def write_stats(plan: Plan, bq: jobs.Jobs, written: dict[str, list[str]]) -> tuple[str, list[str]]:
    """The stats file of the exported files, from two queries and their objects' metadata,
    written beside them; returns its URI and the report's lines."""
    queries = plan.queries
    moments = {
        row["_split"]: row for row in bq.query("statistics", statistics.moments_query(queries))
    }
    counts: dict[str, dict[int, dict[str, int]]] = {
        split: defaultdict(dict) for split in statistics.SPLITS
    }
    columns = statistics.vocabulary_columns(queries, moments)
    if columns:
        for row in bq.query("vocabularies", statistics.values_query(queries, columns)):
            counts[row["_split"]][row["c"]][row["v"]] = row["n"]
    shown = {split: f"{plan.prefix}{split}-*.csv" for split in statistics.SPLITS}
    found = statistics.data_stats(queries, moments, counts, shown)
    client = plan.session.storage
    stats_file = StatsFile(
        plan.schema,
        *(
            DescribedFiles(
                [statistics.fingerprint(client, uri) for uri in written[split]], found[split]
            )
            for split in statistics.SPLITS
        ),
    )
    warnings = check_training_stats(found["train"], plan.schema, shown["train"])
    uri = f"{plan.prefix}{STATS_FILE_NAME}"
    bucket, name = split_uri(uri)
    client.bucket(bucket).blob(name).upload_from_string(
        stats_file.to_json(), content_type="application/json"
    )
    return uri, [
        f"{uri}: statistics of the {found['train'].rows} training rows (the cloud jobs train "
        "with --stats-file)",
        *(f"warning: {warning}" for warning in warnings),
    ]


def export_uri(prefix: str, split: str, shard: int | None, count: int) -> str:
    """Where one EXPORT DATA writes: a pattern with the one * that BigQuery numbers its files by."""
    if shard is None:
        return f"{prefix}{split}-*.csv"
    return f"{prefix}{shards.shard_name(split, shard, count).removesuffix('.csv')}-*.csv"


def read_manifest(path: Path) -> dict | None:
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        raise DataError(f"{path}: not JSON; remove it and prepare again") from None
    return manifest if manifest.get("format") == MANIFEST_FORMAT else None
