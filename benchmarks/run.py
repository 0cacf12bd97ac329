"""Runs every benchmark against a freshly generated project and prints their tables.

    .venv/bin/python benchmarks/run.py           # the full run (about 20 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick   # each with --quick: proves they still work

A full run also writes its tables to benchmarks/results.md and puts them into README.md's
Performance section, between its performance markers: the README's figures come from a run,
never from a hand. A quick run writes nothing unless given --write.

Ratios are taken against a baseline measured in the same run, since the machines are shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import copier

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README_START = "<!-- performance:start -->"
README_END = "<!-- performance:end -->"


def machine() -> str:
    cpu = "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()}, "
        f"Python {platform.python_version()}"
    )


def git_output(*args: str) -> str:
    result = subprocess.run(["git", "-C", str(ROOT), *args], check=False, capture_output=True)
    return result.stdout.decode().strip()


def run_description(quick: bool) -> str:
    """What was run, on which commit of the template, for the results' reader."""
    at = git_output("rev-parse", "--short", "HEAD") or "an unknown commit"
    if git_output("status", "--porcelain"):
        at += " with uncommitted changes"
    mode = (
        "`--quick` (tiny sizes, one repeat, no 10x runs: not figures to quote)" if quick else "full"
    )
    return f"Run: {mode}, template at {at}, {time.strftime('%Y-%m-%d')}.\n"


def publish(tables: str, results: Path, readme: Path) -> None:
    """Writes the tables to `results` and puts them into `readme` between its markers."""
    text = readme.read_text()
    before, start, rest = text.partition(README_START)
    _, end, after = rest.partition(README_END)
    if not (start and end):
        sys.exit(f"{readme} has no {README_START} ... {README_END} section to rewrite")
    results.write_text(tables)
    readme.write_text(f"{before}{README_START}\n{tables}{README_END}{after}")
    print(f"wrote {results} and the Performance section of {readme}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="run each benchmark with its --quick: tiny sizes, one repeat, no 10x runs",
    )
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        help="write the tables to --results and --readme (default: for a full run only)",
    )
    parser.add_argument("--results", type=Path, default=HERE / "results.md")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args()
    template = str(ROOT)
    from_template = ["--template", template]
    # (script, what it always needs, the full run's sizes and repeats); a quick pass gives each
    # script --quick instead of the sizes, and the script says what that runs.
    runs = [
        ("input_pipeline.py", [], ["--repeats", "5", "--rows", "200000"]),
        ("startup.py", [], ["--repeats", "5"]),
        ("scaling.py", [], []),
        ("render.py", from_template, ["--repeats", "5"]),
        ("first_model.py", from_template, []),
        ("staging.py", [], ["--repeats", "5", "--size-mb", "100"]),
        ("sharding.py", [], ["--repeats", "3"]),
        ("feature_kinds.py", [], []),
        ("bigquery_prepare.py", [], []),
    ]
    printed: list[str] = []  # what is printed, for the results file

    def emit(text: str) -> None:
        print(text, flush=True)
        printed.append(text + "\n")

    started = time.monotonic()
    emit(f"## Benchmarks on {machine()}\n\n{run_description(args.quick)}")
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        copier.run_copy(
            template,
            str(project),
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
            skip_tasks=True,  # no `git init` message in the tables
        )
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
        for script, needed, sizes in runs:
            result = subprocess.run(
                [
                    sys.executable,
                    str(HERE / script),
                    *needed,
                    *(["--quick"] if args.quick else sizes),
                ],
                check=False,
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                sys.exit(f"{script} failed:\n{result.stderr[-4000:]}")
            emit(result.stdout)
    emit(f"The whole run took {(time.monotonic() - started) / 60:.1f} minutes.")
    if args.write if args.write is not None else not args.quick:
        publish("".join(printed).rstrip("\n") + "\n", args.results, args.readme)


if __name__ == "__main__":
    main()
