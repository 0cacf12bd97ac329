"""Staging the prepared data in Cloud Storage, where the training job reads it:

    python -m workflow.staging --project P --bucket B --region R data/train.csv data/eval.csv

Everything is checked before the first byte leaves: each file exists and is a CSV with the
columns the trainer reads, and the bucket name is valid. Then the bucket is created when it is
missing (in the job's region, private), or refused when it is a multi-region bucket or in
another region. Files whose checksum already matches the remote copy are not sent again.
`make stage-data` runs this on the split that `make prepare` wrote (every shard of it, and its
stats.json, which goes only with the very files it describes), and `--dry-run` shows what it
would create and upload, sending nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from google.api_core import exceptions
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage

from trainer.csv_reader import DataError, missing_columns, open_csv
from trainer.stats import STATS_FILE_NAME
from workflow import gcs, shards, split_stats


class StagingError(Exception):
    """Input that cannot be staged; nothing was uploaded."""


@dataclass(frozen=True)
class Staged:
    uri: str
    uploaded: bool  # False: the remote copy already had the same bytes
    size: int


def check_files(paths: Iterable[str | Path], required_columns: Sequence[str]) -> list[Path]:
    """The files, after checking that each exists, has a distinct name, and (for a CSV) has a
    header with every column the trainer reads. A stats file (stats.json) goes only with the
    files it describes, unchanged since it was written: the trainer would refuse it."""
    files = [Path(p) for p in paths]
    if not files:
        raise StagingError("no files to stage")
    names: dict[str, Path] = {}
    for path in files:
        if not path.is_file():
            raise StagingError(
                f"{path}: no such file; `make prepare RAW_DATA=your.csv` writes the split to stage"
            )
        if path.name in names:
            raise StagingError(f"{names[path.name]} and {path} would both upload as {path.name}")
        names[path.name] = path
        if path.suffix.lower() != ".csv":
            continue
        with ExitStack() as stack:
            try:
                header = open_csv(str(path), stack).header
            except DataError as err:
                raise StagingError(str(err)) from None
        error = missing_columns(
            str(path), header, required_columns, "the trainer could not read this file"
        )
        if error:
            raise StagingError(str(error))
    for path in files:
        if path.name == STATS_FILE_NAME:
            try:
                split_stats.check_matches(path, files)
            except DataError as err:
                raise StagingError(str(err)) from None
    return files


def get_or_create_bucket(client, name: str, region: str, *, allow_multi_region: bool, log=print):
    """The bucket, checked to be in `region`; created there (private) when it does not exist."""
    try:
        return gcs.check_bucket(client, name, region, allow_multi_region)
    except gcs.BucketNotFound:
        pass
    except exceptions.Forbidden:
        raise gcs.BucketError(
            f"no access to gs://{name}: bucket names are global, so it may belong to another "
            "project, or your account lacks storage.buckets.get on it"
        ) from None
    try:
        bucket = gcs.create_bucket(client, name, region)
    except exceptions.Conflict:
        raise gcs.BucketError(
            f"gs://{name} is taken: bucket names are global and another project owns this one. "
            "Choose another name (copier update --data bucket=NAME)"
        ) from None
    log(
        f"Created gs://{name} in {region} "
        "(uniform bucket-level access, public access prevention enforced)"
    )
    return bucket


def stage(
    client,
    files: Sequence[str | Path],
    bucket_name: str,
    region: str,
    *,
    prefix: str = shards.DATA_DIR,
    required_columns: Sequence[str] = (),
    allow_multi_region: bool = False,
    progress: bool = True,
    log=print,
) -> list[Staged]:
    """Uploads `files` to gs://bucket/prefix/<name>, each unless its bytes are already there.
    Every check runs before the first upload."""
    problem = gcs.bucket_name_problem(bucket_name)
    if problem:
        raise StagingError(f"bucket: {problem}")
    paths = check_files(files, required_columns)
    bucket = get_or_create_bucket(
        client, bucket_name, region, allow_multi_region=allow_multi_region, log=log
    )
    staged = []
    for path in paths:
        name = blob_name(prefix, path)
        uploaded = gcs.upload_if_changed(bucket, str(path), name, progress=progress)
        staged.append(Staged(f"gs://{bucket_name}/{name}", uploaded, path.stat().st_size))
    return staged


def blob_name(prefix: str, path: Path) -> str:
    """Where a file goes in the bucket: prefix/<file name>."""
    return f"{prefix.strip('/')}/{path.name}" if prefix.strip("/") else path.name


def training_flags(uris: Iterable[str]) -> str:
    """`--train-files ... --eval-files ... --stats-file ...` for the staged files named
    train*/eval* (a complete set of shards as one pattern) and stats.json."""
    uris = list(uris)
    flags = []
    for flag, stem in (("--train-files", "train"), ("--eval-files", "eval")):
        matching = [uri for uri in uris if uri.rsplit("/", 1)[-1].startswith(stem)]
        if matching:
            flags.append(f"{flag} {' '.join(shards.as_patterns(matching))}")
    flags += [f"--stats-file {uri}" for uri in uris if uri.endswith(f"/{STATS_FILE_NAME}")]
    return " ".join(flags)


def dry_run_plan(
    paths: Sequence[Path], bucket_name: str, region: str, project: str | None, prefix: str
) -> str:
    """What `stage` would do with checked files, for --dry-run: nothing is sent to learn it, so
    it names what depends on the bucket's state (created only if missing, sent only if changed)."""
    uris = [f"gs://{bucket_name}/{blob_name(prefix, path)}" for path in paths]
    width = max(len(str(path)) for path in paths)
    lines = [
        "Dry run, nothing sent. Staging would:",
        f"  check that gs://{bucket_name} is a single-region bucket in {region}, or create it:",
        f"    {gcs.create_bucket_command(bucket_name, region, project)}",
        "  upload each file unless the bucket already holds the same bytes:",
        *(
            f"    {path!s:<{width}} -> {uri} ({path.stat().st_size:,} bytes)"
            for path, uri in zip(paths, uris, strict=True)
        ),
    ]
    flags = training_flags(uris)
    if flags:
        lines += ["Pass them to training:", f"  {flags}"]
    return "\n".join(lines)


def report(staged: Sequence[Staged]) -> str:
    width = max(len(s.uri) for s in staged)
    lines = [
        f"  {s.uri:<{width}}  {'uploaded' if s.uploaded else 'unchanged, not sent'} "
        f"({s.size:,} bytes)"
        for s in staged
    ]
    flags = training_flags(s.uri for s in staged)
    if flags:
        lines += ["Pass them to training:", f"  {flags}"]
    return "\n".join(["Staged:", *lines])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.staging",
        description="Upload prepared data to a single-region bucket in the job's region.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--project", help="the GCP project that owns a new bucket")
    parser.add_argument("--bucket", required=True, help="the bucket name, without gs://")
    parser.add_argument("--region", required=True, help="the training job's region")
    parser.add_argument("--prefix", default=shards.DATA_DIR, help="the folder in the bucket")
    parser.add_argument(
        "--allow-multi-region",
        action="store_true",
        help="accept an existing bucket outside the region (with a warning); "
        "Vertex AI may then refuse the job",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the files, then show what would be created and uploaded; send nothing",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    # The project's schema, read by the command only: the template's tests import this module from
    # template/, where trainer/features.py is still features.py.jinja.
    from trainer.features import SCHEMA  # noqa: PLC0415

    try:
        # Checked before a client exists, so that bad input fails without credentials too.
        problem = gcs.bucket_name_problem(args.bucket)
        if problem:
            raise StagingError(f"bucket: {problem}")
        paths = check_files(args.files, SCHEMA.columns)
        if args.dry_run:
            print(dry_run_plan(paths, args.bucket, args.region, args.project, args.prefix))
            return 0
        client = storage.Client(project=args.project)
        staged = stage(
            client,
            args.files,
            args.bucket,
            args.region,
            prefix=args.prefix,
            required_columns=SCHEMA.columns,
            allow_multi_region=args.allow_multi_region,
            progress=not args.no_progress,
        )
    except (StagingError, gcs.BucketError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except DefaultCredentialsError:
        print(
            "error: no Google Cloud credentials; run `gcloud auth application-default login`",
            file=sys.stderr,
        )
        return 1
    except exceptions.GoogleAPICallError as err:
        print(f"error: Cloud Storage refused the request: {err}", file=sys.stderr)
        return 1
    print(report(staged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
