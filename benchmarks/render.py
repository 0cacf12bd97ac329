"""Benchmark 4: `copier copy --defaults` of this template against copier rendering a one-file
template, both through the copier command line from a local git repository."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import quick

COPIER = os.path.join(os.path.dirname(sys.executable), "copier")


def copier_copy(template: str, dest: str) -> None:
    """`copier copy --trust --defaults` of the template's HEAD, as a user runs it."""
    subprocess.run(
        [COPIER, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD", template, dest],
        check=True,
        capture_output=True,
    )


def one_file_template(directory: str) -> str:
    """The smallest template: one question, one rendered file, in a git repo as ours is."""
    os.makedirs(directory)
    with open(os.path.join(directory, "copier.yml"), "w") as f:
        f.write("project_name:\n  type: str\n  default: demo\n")
    with open(os.path.join(directory, "README.md.jinja"), "w") as f:
        f.write("# {{ project_name }}\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "one file"]):
        subprocess.run([*git, *args], cwd=directory, check=True, capture_output=True)
    return directory


def median_copy_seconds(template: str, repeats: int, tmp: str) -> float:
    times = []
    for i in range(repeats):
        dest = os.path.join(tmp, f"out-{os.path.basename(template)}-{i}")
        start = time.perf_counter()
        copier_copy(template, dest)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    args = quick.parse_args(parser, {"repeats": 1})
    with tempfile.TemporaryDirectory() as tmp:
        baseline = median_copy_seconds(
            one_file_template(os.path.join(tmp, "one")), args.repeats, tmp
        )
        ours = median_copy_seconds(args.template, args.repeats, tmp)
    print(f"### 4. Render (median of {args.repeats})")
    print()
    print("| `copier copy --trust --defaults` of | seconds | ratio |")
    print("|---|---:|---:|")
    print(f"| a one-file template (baseline) | {baseline:.2f} | 1.00x |")
    print(f"| copier-cloud-trainer | {ours:.2f} | {ours / baseline:.2f}x |")
    print()


if __name__ == "__main__":
    main()
