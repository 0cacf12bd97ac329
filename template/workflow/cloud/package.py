"""The trainer package as the cloud gets it: a content hash of its sources (the staging path of
the sdist and the image tag), the sdist itself, and a check that it imports on its own.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# What goes into the sdist or the image: a change to any of these makes a new hash.
SOURCE_PATTERNS = ("setup.py", "requirements.txt", "Dockerfile", "docker/**/*", "trainer/**/*.py")
HASH_LENGTH = 12


class PackageError(Exception):
    """The package does not build or import; the message says what failed."""


def source_files(root: Path) -> list[Path]:
    files = {p for pattern in SOURCE_PATTERNS for p in root.glob(pattern) if p.is_file()}
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def source_hash(root: Path) -> str:
    """A short SHA-256 of the package's sources: their paths and bytes."""
    digest = hashlib.sha256()
    for path in source_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:HASH_LENGTH]


def _run(args: list[str], what: str, tail: int = 15, **kwargs) -> subprocess.CompletedProcess:
    """Runs a command; on failure, a PackageError with the last `tail` lines it printed."""
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip()).splitlines()[-tail:]
        raise PackageError(f"{what} failed:\n  " + "\n  ".join(output))
    return result


def build_sdist(root: Path, out_dir: Path) -> Path:
    """The sdist of the package, built once per content hash into `out_dir`."""
    built = sorted(out_dir.glob("*.tar.gz"))
    if len(built) == 1:
        return built[0].resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in built:
        stale.unlink()
    _run(
        [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(out_dir)],
        "building the sdist (python setup.py sdist)",
        cwd=root,
    )
    (sdist,) = out_dir.glob("*.tar.gz")
    return sdist.resolve()


# Imports every module of the installed job package, after checking that `trainer` is the
# installed copy (argv[1] is where it was installed), not a source tree or an editable install.
IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
import trainer
if not trainer.__file__.startswith(sys.argv[1]):
    sys.exit(f"trainer was imported from {trainer.__file__}, not from the installed package")
for module in pkgutil.walk_packages(trainer.__path__, "trainer."):
    importlib.import_module(module.name)
"""


def check_imports(sdist: Path) -> None:
    """Installs the sdist into an empty folder and, away from the source tree, imports every
    module of the installed package and runs `python -m trainer.task --help`: a module that the
    package leaves out fails here, not in the cloud, even one that only model.py imports, which
    `--help` never loads. The imports run on this Python, whose packages stand in for the job's
    image: requirements.txt's TensorFlow, Keras and hypertune."""
    with tempfile.TemporaryDirectory(prefix="trainer-check-") as tmp:
        site = Path(tmp) / "site"
        _run(
            [
                *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"),
                *("--no-build-isolation", "--no-index", "--target", str(site), str(sdist)),
            ],
            f"installing {sdist.name} into an empty folder",
        )
        # The installed package alone on PYTHONPATH, ahead of this Python's own packages.
        env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "2"}
        for args, what in (
            (["-c", IMPORT_EVERY_MODULE, str(site)], "importing every module"),
            (["-m", "trainer.task", "--help"], "`python -m trainer.task --help`"),
        ):
            _run(
                [sys.executable, *args],
                f"{what} of the installed {sdist.name}",
                tail=1,  # the exception, without the traceback's frames
                cwd=tmp,
                env=env,
            )


def pinned_version(requirements: Path, package: str = "tensorflow-cpu") -> str | None:
    """The version that requirements.txt pins `package` to, or None."""
    match = re.search(
        rf"^{re.escape(package)}==([0-9][^\s;]*)", requirements.read_text(), re.MULTILINE
    )
    return match[1] if match else None


def minor(version: str) -> str:
    """'2.21.0' -> '2.21'."""
    return ".".join(version.split(".")[:2])


def image_tf_minor(image_uri: str) -> str | None:
    """The TensorFlow minor of a prebuilt Vertex AI image:
    '.../tf-cpu.2-17.py310:latest' -> '2.17'."""
    match = re.search(r"/tf-(?:cpu|gpu)\.(\d+)-(\d+)", image_uri)
    return f"{match[1]}.{match[2]}" if match else None
