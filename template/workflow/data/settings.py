"""The team's data settings: config/data.yaml, read once and checked, and the split's fractions
(whole percentages that sum to 1), whether they come from the file or from the flags."""

from __future__ import annotations

import functools
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from trainer.csv_reader import DataError

# The settings a team changes, each described there: the missing-value tokens (MISSING_TOKENS
# was here), the split's key and fractions, and the schema proposal's thresholds.
CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "data.yaml"

SPLITS = ("train", "eval", "test")
# Rows are hashed into this many buckets, so split fractions are whole percentages.
HASH_BUCKETS = 100


@dataclass(frozen=True)
class BigQuerySettings:
    """config/data.yaml's bigquery section: the prepare in BigQuery (workflow/bigquery/)."""

    price_per_tib_usd: float
    price_checked: str
    maximum_bytes_billed: int
    work_dataset: str


# A project whose config/data.yaml predates the section (and whose team kept it out) gets these.
BIGQUERY_DEFAULTS = {
    "price_per_tib_usd": 6.25,
    "price_checked": "2026-12-07",
    "maximum_bytes_billed": 1024**4,
    "work_dataset": "prepare_work",
}


@dataclass(frozen=True)
class Settings:
    """config/data.yaml, checked: its comments say what each setting does."""

    missing_tokens: frozenset[str]
    split_key: str | None
    fractions: tuple[float, float, float]  # train, eval, test
    max_distinct: int
    max_integer_classes: int
    max_sensible_classes: int
    max_words: float
    time_words: frozenset[str]
    id_words: frozenset[str]
    bigquery: BigQuerySettings


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _above_zero(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf


def _fraction(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


# Each setting of config/data.yaml: what its value must be, and the test of it.
SETTINGS = {
    "missing_tokens": ("a list of quoted strings", _strings),
    "split": {
        "key": ("a column name, or null", lambda v: v is None or (isinstance(v, str) and v)),
        **dict.fromkeys(
            ("train_fraction", "eval_fraction", "test_fraction"),
            ("a number from 0 to 1", _fraction),
        ),
    },
    "schema_proposal": {
        **dict.fromkeys(
            ("max_distinct", "max_integer_classes", "max_sensible_classes"),
            ("a whole number above 0", _whole),
        ),
        "max_words": ("a number above 0", _above_zero),
        **dict.fromkeys(("time_words", "id_words"), ("a list of words", _strings)),
    },
    "bigquery": {
        "price_per_tib_usd": ("a number above 0", _above_zero),
        "price_checked": ("a date, YYYY-MM-DD", lambda v: DATE.fullmatch(str(v)) is not None),
        "maximum_bytes_billed": ("a whole number above 0", _whole),
        "work_dataset": (
            "a dataset name: letters, digits and underscores",
            lambda v: isinstance(v, str) and DATASET.fullmatch(v) is not None,
        ),
    },
}
# Sections a project may lack: they came in a later release (with their values above).
OPTIONAL = {"bigquery": BIGQUERY_DEFAULTS}
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATASET = re.compile(r"[A-Za-z0-9_]{1,1024}")


def _checked(content: object, spec: dict, shown: str, prefix: str = "") -> dict:
    """`content` once it has every setting of `spec` and no other, each of the right kind."""
    if not isinstance(content, dict):
        where = f"'{prefix.rstrip('.')}'" if prefix else "the file"
        raise DataError(f"{shown}: {where} must hold the settings {', '.join(spec)}")
    unknown = [key for key in content if key not in spec]
    if unknown:
        raise DataError(
            f"{shown}: no setting '{prefix}{unknown[0]}' (the settings: "
            f"{', '.join(prefix + key for key in spec)})"
        )
    for key, kind in spec.items():
        if key not in content and not prefix and key in OPTIONAL:
            content[key] = dict(OPTIONAL[key])
        if key not in content:
            raise DataError(f"{shown}: the setting '{prefix}{key}' is missing")
        if isinstance(kind, dict):
            _checked(content[key], kind, shown, f"{prefix}{key}.")
        elif not kind[1](content[key]):
            raise DataError(
                f"{shown}: '{prefix}{key}' must be {kind[0]}, not {json.dumps(content[key])}"
            )
    return content


def load_settings(path: Path = CONFIG_FILE) -> Settings:
    """The settings in `path`, checked; a DataError names the file and the setting."""
    shown = os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            f"{shown}: no such file; restore it (git checkout {shown}, or copier update)"
        ) from None
    except yaml.YAMLError as err:
        raise DataError(f"{shown}: not valid YAML ({' '.join(str(err).split())})") from None
    _checked(content, SETTINGS, shown)
    split, proposal = content["split"], content["schema_proposal"]
    fractions = tuple(split[f"{name}_fraction"] for name in SPLITS)
    try:
        split_percents(*fractions, name="split.{}_fraction")
    except DataError as err:
        raise DataError(f"{shown}: {err}") from None
    return Settings(
        missing_tokens=frozenset(content["missing_tokens"]),
        split_key=split["key"],
        fractions=fractions,
        max_distinct=proposal["max_distinct"],
        max_integer_classes=proposal["max_integer_classes"],
        max_sensible_classes=proposal["max_sensible_classes"],
        max_words=proposal["max_words"],
        time_words=frozenset(word.lower() for word in proposal["time_words"]),
        id_words=frozenset(word.lower() for word in proposal["id_words"]),
        bigquery=BigQuerySettings(
            price_per_tib_usd=content["bigquery"]["price_per_tib_usd"],
            price_checked=str(content["bigquery"]["price_checked"]),
            maximum_bytes_billed=content["bigquery"]["maximum_bytes_billed"],
            work_dataset=content["bigquery"]["work_dataset"],
        ),
    )


@functools.cache
def settings() -> Settings:
    """The project's settings, read once."""
    return load_settings()


def split_percents(
    train: float, eval_: float, test: float, name: str = "--{}-fraction"
) -> dict[str, int]:
    """Fractions to whole percentages; they must sum to 1. `name` names the setting of each
    ('--train-fraction'), for the messages."""
    percents = {}
    for split, fraction in zip(SPLITS, (train, eval_, test), strict=True):
        percent = fraction * HASH_BUCKETS
        if not 0 <= fraction <= 1 or abs(percent - round(percent)) > 1e-6:
            raise DataError(
                f"{name.format(split)} {fraction}: must be a whole percentage between 0 and 1, "
                "such as 0.8 or 0.15"
            )
        percents[split] = round(percent)
    if sum(percents.values()) != HASH_BUCKETS:
        raise DataError(
            f"the split fractions sum to {sum(percents.values()) / HASH_BUCKETS:g}; "
            "they must sum to 1"
        )
    return percents
