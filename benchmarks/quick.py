"""The --quick option of every benchmark: the same runs at tiny sizes and one repeat, to prove
that the benchmark still works end to end (benchmarks/run.py --quick, and the template's tests).
A quick pass's figures are not to be quoted."""

from __future__ import annotations

import argparse


def parse_args(
    parser: argparse.ArgumentParser, sizes: dict[str, object], fewer: str = ""
) -> argparse.Namespace:
    """The command line, with --quick added: it makes `sizes` (option name to value) the
    defaults, so that an option given still wins. `fewer` names the runs a quick pass leaves
    out: only runs that repeat another at a larger size."""
    shown = " ".join(f"--{name.replace('_', '-')} {value}" for name, value in sizes.items())
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"prove it still runs: {shown}{f'; {fewer}' if fewer else ''}",
    )
    args = parser.parse_args()
    if args.quick:
        parser.set_defaults(**sizes)
        args = parser.parse_args()
    return args
