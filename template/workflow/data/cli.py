"""The command line of the data preparation, `python -m workflow.data COMMAND` (and `python -m
workflow describe | schema | prepare`): its flags, whose defaults are config/data.yaml's
settings, and one `error:` line for bad input."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

from trainer.csv_reader import DataError
from workflow import shards
from workflow.bigquery import is_remote
from workflow.data.clean import CleanReport, clean_rows
from workflow.data.describe import describe
from workflow.data.prepare import prepare
from workflow.data.proposal import proposal_text, propose_schema
from workflow.data.reading import column_index, project_schema, read_csv
from workflow.data.settings import SPLITS, settings, split_percents
from workflow.data.split import Splitter, split_lines, write_splits
from workflow.data.swap import Staging


def _venv_copier() -> str:
    """The copier beside this Python, as a path that runs from here: it is installed in the
    project's virtualenv, which is not on PATH."""
    copier = Path(sys.executable).parent / "copier"
    if not copier.is_file():
        return "copier"
    try:
        return str(copier.relative_to(Path.cwd()))
    except ValueError:
        return str(copier)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.data",
        description="Prepare a CSV dataset: clean it, split it, describe it, propose its schema.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def label_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--label", help="the label column (default: the project's)")

    def split_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--out-dir", default=shards.DATA_DIR, help="where train.csv, eval.csv go")
        p.add_argument(
            "--key",
            default=settings().split_key,
            help="hash this column (a unique id) instead of the whole row; rows sharing "
            "a key then stay together (default: config/data.yaml's split.key)",
        )
        for name, default in zip(SPLITS, settings().fractions, strict=True):
            p.add_argument(
                f"--{name}-fraction",
                type=float,
                default=default,
                help=f"share of rows in {name}.csv, from 0 to 1 in steps of 0.01 "
                f"(default: {default}, config/data.yaml's split.{name}_fraction)",
            )
        for split, flag in (("train", "--shards"), ("eval", "--eval-shards")):
            p.add_argument(
                flag,
                type=_shard_count,
                default=1,
                metavar="N",
                help=f"write {split}.csv as N files, {split}-00000-of-0000N.csv ..., so that "
                "N workers each read their own (default: 1)",
            )

    clean = commands.add_parser(
        "clean",
        help="drop rows with no label, write missing values as NA, strip spaces",
    )
    clean.add_argument("input")
    clean.add_argument("-o", "--output", required=True)
    label_flag(clean)

    split = commands.add_parser("split", help="split by a hash: train.csv, eval.csv, test.csv")
    split.add_argument("input")
    split_flags(split)

    prepare = commands.add_parser(
        "prepare", help="clean, split, and write a few evaluation rows as instances.json"
    )
    prepare.add_argument("input")
    label_flag(prepare)
    split_flags(prepare)
    prepare.add_argument(
        "--dry-run",
        action="store_true",
        help="BigQuery sources: print the bytes each query would scan and their price, and "
        "send nothing else",
    )
    prepare.add_argument(
        "--instances",
        metavar="FILE",
        help="where the instances for `make predict` go (default: OUT_DIR/instances.json)",
    )

    describe_ = commands.add_parser("describe", help="per-column counts, ranges, categories")
    describe_.add_argument("input")
    describe_.add_argument("--top", type=int, default=5, help="categories shown per column")

    schema = commands.add_parser("schema", help="propose the features for a label")
    schema.add_argument("input")
    label_flag(schema)
    schema.add_argument(
        "--write", metavar="FILE", help="also write the answers as a copier --data-file"
    )
    schema.add_argument(
        "--copier",
        default=_venv_copier(),
        help="the copier command to print (default: the one beside this Python)",
    )
    return parser


def _shard_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= shards.MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {shards.MAX_SHARDS}, not {text}")
    return count


def run(args: argparse.Namespace) -> list[str]:
    """Runs one command; returns the report's lines."""
    if args.command in ("describe", "schema"):
        if is_remote(args.input):
            # google-cloud-bigquery takes a second to import: only a BigQuery source needs it.
            from workflow.bigquery.describe import describe as describe_in_bigquery  # noqa: PLC0415

            described, cost, key_notes = describe_in_bigquery(args.input)
        else:
            described, cost, key_notes = describe(args.input), [], []
        if args.command == "describe":
            return [*cost, described.table(args.top)]
        proposal = propose_schema(described, args.label or project_schema().label, project_schema())
        if args.write:
            Path(args.write).write_text(proposal.answers_yaml())
        return [*cost, *key_notes, proposal_text(proposal, args.input, args.write, args.copier)]
    if args.command == "prepare" and is_remote(args.input):
        from workflow.bigquery.prepare import prepare as prepare_in_bigquery  # noqa: PLC0415

        return prepare_in_bigquery(args)
    if args.command == "prepare":
        if args.dry_run:
            raise DataError(
                f"{args.input}: --dry-run prices the prepare of a BigQuery source (bq:// or "
                "gs://); a local file is prepared here, at no cost"
            )
        return prepare(args)
    with ExitStack() as stack:
        csv_file = read_csv(args.input, stack)
        staging = stack.enter_context(Staging())
        if args.command == "split":
            percents = split_percents(args.train_fraction, args.eval_fraction, args.test_fraction)
            key_index = column_index(csv_file, args.key, "key") if args.key else None
            result = write_splits(
                csv_file.path,
                csv_file.header,
                csv_file.rows(),
                Splitter(percents, key_index),
                Path(args.out_dir),
                staging=staging,
                shard_counts={"train": args.shards, "eval": args.eval_shards},
            )
            staging.switch()
            return split_lines(result)
        label = args.label or project_schema().label
        report = CleanReport()
        rows = clean_rows(csv_file, label, report)
        writer = staging.csv_writer(Path(args.output))
        writer.writerow(csv_file.header)
        writer.writerows(fields for _, fields in rows)
        staging.switch()
        return report.lines(args.input, label)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # its defaults are settings
        lines = run(args)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0
