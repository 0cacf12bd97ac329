"""The train/serve parity check (make parity-check):

    python -m workflow.serving.parity [--instances data/instances.json] MODEL_DIR [MODEL_DIR ...]

Training exports the model with the TensorFlow that requirements.txt pins, while Vertex AI's
prebuilt prediction image (config/serving.yaml's image) runs an older one. This runs each
model's `serving_default` on the instances in both: the training TensorFlow is this Python's;
the serving one is installed once into a virtualenv of its own (build/parity-venv, through pip
and its cache). It passes when the string outputs (classes) are identical and every number is
within --tolerance. When that stops being true, it says so, and what to do: serve the model on a
custom image that runs the training TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from workflow.cloud.settings import ConfigError
from workflow.serving import config

PROBE = Path(__file__).with_name("parity_probe.py")
DEFAULT_VENV = Path("build/parity-venv")
MARKER = "parity-requirement.txt"  # in the venv: what it was made with
DEFAULT_TOLERANCE = 1e-5
# A Vertex AI prebuilt TensorFlow prediction image names its TensorFlow: .../tf2-cpu.2-15:latest.
PREBUILT_IMAGE = re.compile(r"/vertex-ai/prediction/tf2-(?:cpu|gpu)\.2-(?P<minor>[0-9]+)")
FIX = (
    "The fix: serve the model on a custom serving image that runs TensorFlow {trained} (TF "
    "Serving, listening on Vertex AI's AIP_HTTP_PORT and answering AIP_PREDICT_ROUTE and "
    "AIP_HEALTH_ROUTE for the model in AIP_STORAGE_URI), and set image in config/serving.yaml "
    "to it; or train with a TensorFlow whose exports TensorFlow {served} serves alike."
)


class ParityError(Exception):
    """The check could not run, or found the outputs different; the message says what to do."""


@dataclass(frozen=True)
class OutputDifference:
    name: str
    max_difference: float  # numbers: the largest absolute difference; strings: 0 or inf
    detail: str  # what a person reads: "identical", "max abs difference 3e-08", ...
    ok: bool


def serving_tensorflow(image: str) -> str | None:
    """The TensorFlow minor version ("2.15") of a prebuilt Vertex AI prediction image, or None
    for any other image."""
    match = PREBUILT_IMAGE.search(image)
    return f"2.{match['minor']}" if match else None


def pip_requirement(minor: str) -> str:
    """What pip installs for that TensorFlow: the CPU-only wheel where it exists (Linux x86-64),
    as requirements.txt does."""
    cpu_only = sys.platform == "linux" and platform.machine() == "x86_64"
    return f"{'tensorflow-cpu' if cpu_only else 'tensorflow'}=={minor}.*"


def _run(args: list[str], what: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = "\n  ".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise ParityError(f"{what} failed:\n  {said}")
    return result.stdout


def serving_venv(venv: Path, python: str, requirement: str) -> Path:
    """The Python of a virtualenv that has `requirement` installed: made once, then reused while
    its marker says it was made with the same requirement and Python."""
    version = _run([python, "-c", "import platform; print(platform.python_version())"], python)
    made_with = f"{requirement}\nPython {version.strip()} ({python})\n"
    marker = venv / MARKER
    venv_python = venv / "bin" / "python"
    if marker.is_file() and marker.read_text() == made_with and venv_python.exists():
        return venv_python
    print(f"Installing {requirement} into {venv} (once; later checks reuse it)...", file=sys.stderr)
    # venv refuses a path that is a symbolic link, as a shared cache may be: make it at the target.
    target = venv.resolve()
    _run([python, "-m", "venv", "--clear", str(target)], f"creating the virtualenv {venv}")
    try:
        _run(
            [str(venv_python), "-m", "pip", "install", "--quiet", requirement],
            f"pip install {requirement}",
        )
    except ParityError as err:
        raise ParityError(
            f"{err}\nEach TensorFlow has wheels for a few Python versions only (2.15: 3.9 to "
            f"3.11; this is Python {version.strip()}): pass --python with one of them, such as "
            "--python python3.11."
        ) from None
    marker.write_text(made_with)
    return venv_python


def probe(python: str | Path, model_dirs: list[str], instances: Path) -> dict:
    """The outputs of each model in the TensorFlow of `python` (parity_probe.py's JSON)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "outputs.json"
        args = [str(python), str(PROBE), "--instances", str(instances), "--out", str(out)]
        _run([*args, *model_dirs], f"running the models in {python}")
        return json.loads(out.read_text())


def _flat(value) -> list:
    return [x for item in value for x in _flat(item)] if isinstance(value, list) else [value]


def _numbers_difference(trained: list, served: list) -> float:
    largest = 0.0
    for a, b in zip(trained, served, strict=True):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            continue
        largest = max(largest, abs(a - b)) if not math.isnan(abs(a - b)) else math.inf
    return largest


def compare(trained: dict, served: dict, tolerance: float) -> list[OutputDifference]:
    """Each output of the training TensorFlow against the serving one's, by name."""
    found = []
    for name, value in sorted(trained.items()):
        if name not in served:
            found.append(OutputDifference(name, math.inf, "not served", False))
            continue
        a, b = _flat(value), _flat(served[name])
        if len(a) != len(b):
            detail = f"{len(a)} values trained, {len(b)} served"
            found.append(OutputDifference(name, math.inf, detail, False))
        elif any(isinstance(x, str) for x in a + b):
            differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
            detail = (
                f"differ on {len(differ)} of {len(a)}, first at index {differ[0]} "
                f"({a[differ[0]]!r} trained, {b[differ[0]]!r} served)"
                if differ
                else "identical"
            )
            found.append(OutputDifference(name, math.inf if differ else 0.0, detail, not differ))
        else:
            largest = _numbers_difference(a, b)
            ok = largest <= tolerance
            detail = f"max abs difference {largest:.3g}" + ("" if ok else f" > {tolerance:g}")
            found.append(OutputDifference(name, largest, detail, ok))
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.serving.parity",
        description="Check that the serving image's TensorFlow (config/serving.yaml) serves the "
        "exported model as the training TensorFlow does.",
    )
    parser.add_argument("model_dirs", nargs="+", metavar="MODEL_DIR", help="exported models")
    parser.add_argument(
        "--instances",
        type=Path,
        default=Path("data/instances.json"),
        help="one JSON object a line (default: %(default)s)",
    )
    parser.add_argument(
        "--venv",
        type=Path,
        default=DEFAULT_VENV,
        help="the serving TensorFlow's virtualenv, made once (default: %(default)s)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the Python to make that virtualenv with (default: this one)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="the largest difference allowed in a number (default: %(default)g)",
    )
    return parser


def check(args: argparse.Namespace, serving_file: Path) -> None:
    image = config.load(serving_file).image
    minor = serving_tensorflow(image)
    if minor is None:
        print(
            f"Nothing to compare: {image} (config/serving.yaml) is not a prebuilt Vertex AI "
            "TensorFlow prediction image such as .../vertex-ai/prediction/tf2-cpu.2-15:latest; "
            "a custom image serves with the TensorFlow it brings."
        )
        return
    venv_python = serving_venv(args.venv, args.python, pip_requirement(minor))
    trained = probe(sys.executable, args.model_dirs, args.instances)
    served = probe(venv_python, args.model_dirs, args.instances)
    trained_tf, served_tf = trained["tensorflow"], served["tensorflow"]
    fix = FIX.format(trained=trained_tf, served=served_tf)
    where = f"TensorFlow {served_tf}, the TensorFlow of the serving image {image}"
    broken = []
    for model_dir in args.model_dirs:
        ours, theirs = trained["models"][model_dir], served["models"][model_dir]
        if "error" in ours:
            raise ParityError(
                f"TensorFlow {trained_tf} cannot serve {model_dir}: {ours['error']}\n"
                "Is it a model that `make train` exported (JOB_DIR/model)?"
            )
        if "error" in theirs:
            broken.append(
                f"{where}, cannot serve {model_dir}, which TensorFlow {trained_tf} exported: "
                f"{theirs['error']}"
            )
            continue
        differences = compare(ours["outputs"], theirs["outputs"], args.tolerance)
        lines = "\n".join(f"  {d.name}: {d.detail}" for d in differences)
        if all(d.ok for d in differences):
            print(
                f"Parity holds for {model_dir} on {trained['instances']} instance(s) of "
                f"{args.instances}: TensorFlow {trained_tf} (training) and {served_tf} "
                f"({image}) serve the same outputs.\n{lines}"
            )
        else:
            broken.append(
                f"{where}, serves {model_dir} otherwise than TensorFlow {trained_tf}, which "
                f"trained it, on {args.instances}:\n{lines}\nDeployed on that image, the model "
                "would serve these other predictions."
            )
    if broken:
        raise ParityError("train/serve parity is broken: " + "\n".join(broken) + f"\n{fix}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        check(args, Path(config.DEFAULT_PATH))
    except (ConfigError, ParityError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
