"""Runs every benchmark against a freshly generated project and prints their tables.

    .venv/bin/python benchmarks/run.py           # the full run (about 10 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --quick   # tiny sizes, one repeat: proves they still work

Ratios are taken against a baseline measured in the same run, since the machines are shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import copier

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one repeat")
    args = parser.parse_args()
    repeats = ["--repeats", "1" if args.quick else "5"]
    template = str(ROOT)
    runs = [
        ("input_pipeline.py", [*repeats, "--rows", "3000" if args.quick else "200000"]),
        ("startup.py", repeats),
        ("scaling.py", ["--rows", "2000"] if args.quick else []),
        ("render.py", [*repeats, "--template", template]),
        (
            "first_model.py",
            ["--template", template, *(["--num-epochs", "1"] if args.quick else [])],
        ),
        ("staging.py", [*repeats, "--size-mb", "4" if args.quick else "100"]),
    ]
    print(f"## Benchmarks on {machine()}\n", flush=True)
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
        for script, script_args in runs:
            result = subprocess.run(
                [sys.executable, str(HERE / script), *script_args],
                check=False,
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                sys.exit(f"{script} failed:\n{result.stderr[-4000:]}")
            print(result.stdout, flush=True)


if __name__ == "__main__":
    main()
