"""Data in shards: the files of a split that `make prepare SHARDS=N` writes, and what the cloud
scripts make of them.

A split in N shards is N files, train-00000-of-0000N.csv to train-0000{N-1}-of-0000N.csv, which
its rows fill in turn, so that their sizes differ by one row at most. With at least as many
training files as machines, each machine of a cluster reads only its own files; with fewer,
each reads them all (trainer/inputs.py). The split itself does not depend on N: a row's split is
its hash's (workflow/data/split.py), and the shards only divide each split's rows.

The cloud scripts train on what `make stage-data` uploaded, beside data/: the staged shards when
data/ holds shards, and the staged stats file when data/stats.json describes that data.
"""

from __future__ import annotations

import re
from pathlib import Path

SHARD = re.compile(r"(?P<split>[a-z]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.csv")
# Where `make prepare` writes and `make stage-data` uploads from, as the Makefile's DATA_DIR.
DATA_DIR = "data"
MAX_SHARDS = 99_999  # five digits in the names


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.csv"


def split_paths(out_dir: Path, split: str, shards: int = 1) -> list[Path]:
    """The files a split is written to: out_dir/<split>.csv, or its `shards` shards."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"the number of shards must be from 1 to {MAX_SHARDS}, not {shards}")
    if shards == 1:
        return [out_dir / f"{split}.csv"]
    return [out_dir / shard_name(split, i, shards) for i in range(shards)]


def local_files(out_dir: Path, split: str) -> list[Path]:
    """The files of a split in `out_dir`: every shard of it, in order, or else <split>.csv."""
    shards = sorted(p for p in out_dir.glob(f"{split}-*-of-*.csv") if SHARD.fullmatch(p.name))
    single = out_dir / f"{split}.csv"
    return shards or ([single] if single.exists() else [])


def stale_files(out_dir: Path, split: str, written: list[Path]) -> list[Path]:
    """The split's files in `out_dir` that another layout left (<split>.csv, or shards of
    another count): the split just `written` replaces them."""
    keep = set(written)
    candidates = [out_dir / f"{split}.csv", *out_dir.glob(f"{split}-*-of-*.csv")]
    return [
        p
        for p in candidates
        if p not in keep and p.exists() and (p.name == f"{split}.csv" or SHARD.fullmatch(p.name))
    ]


def describe_paths(paths: list[Path]) -> str:
    """'data/train.csv', or 'data/train-00000-of-00004.csv ... data/train-00003-of-00004.csv'."""
    return str(paths[0]) if len(paths) == 1 else f"{paths[0]} ... {paths[-1]}"


def as_patterns(uris: list[str]) -> list[str]:
    """The URIs with each complete set of shards as one pattern: gs://b/data/train-*-of-00004.csv
    for its 4 shards. Other URIs stay as they are."""
    out: list[str] = []
    groups: dict[tuple[str, str, str], list[int]] = {}
    for uri in uris:
        folder, _, name = uri.rpartition("/")
        match = SHARD.fullmatch(name)
        if match:
            groups.setdefault((folder, match["split"], match["count"]), []).append(
                int(match["index"])
            )
    for uri in uris:
        folder, _, name = uri.rpartition("/")
        match = SHARD.fullmatch(name)
        if not match:
            out.append(uri)
            continue
        key = (folder, match["split"], match["count"])
        if sorted(groups[key]) != list(range(int(match["count"]))):
            out.append(uri)  # an incomplete set: each shard by its name
        elif int(match["index"]) == min(groups[key]):
            out.append(f"{folder}/{match['split']}-*-of-{match['count']}.csv")
    return out
