"""What ships is the job and only the job: the sdist holds trainer/ alone, the content hash
behind the image tag and the sdist path covers exactly what ships, and trainer/ imports nothing
that requirements.txt does not install (so nothing from workflow/ either)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from workflow.cloud import package

ROOT = Path(__file__).resolve().parent.parent
JOB_PACKAGE = "trainer"
# The sdist's packaging metadata, which setuptools writes beside the sources.
SDIST_METADATA = ("PKG-INFO", "setup.cfg")


def job_sources(root: Path) -> set[str]:
    """The job package's modules as they lie on disk, relative to `root`."""
    return {p.relative_to(root).as_posix() for p in root.glob(f"{JOB_PACKAGE}/**/*.py")}


def test_the_sdist_holds_the_job_package_setup_py_and_requirements_txt_alone(tmp_path):
    sdist = package.build_sdist(ROOT, tmp_path)
    with tarfile.open(sdist) as archive:
        # Every file sits under one top folder, <name>-<version>/.
        files = {m.name.split("/", 1)[1] for m in archive.getmembers() if m.isfile()}
    shipped = {
        f for f in files if f not in SDIST_METADATA and not f.split("/")[0].endswith(".egg-info")
    }
    assert shipped == {"setup.py", "requirements.txt", *job_sources(ROOT)}


def test_the_package_asks_for_the_pinned_keras_and_nothing_else(tmp_path):
    """On a prebuilt image, pip installs the package's requirements over the image's own: the
    exact Keras of requirements.txt, never a second TensorFlow. Read as pip reads the sdist."""
    sdist = package.build_sdist(ROOT, tmp_path / "dist")
    report = tmp_path / "report.json"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--no-index", "--ignore-installed"),
            *("--report", str(report), str(sdist)),
        ],
        check=True,
        capture_output=True,
    )
    (installed,) = json.loads(report.read_text())["install"]
    (keras,) = [
        line for line in requirement_lines(ROOT / "requirements.txt") if line.startswith("keras==")
    ]
    assert installed["metadata"]["requires_dist"] == [keras]


def project_copy(tmp_path: Path) -> Path:
    """The project without its local state (git, virtualenvs, build outputs) or its data, which
    may be large and which the hash never reads."""
    local_state = {".git", ".venv", "venv", "build", "dist", "outputs", "data"}

    def ignored(directory: str, names: list[str]) -> set[str]:
        at_root = Path(directory) == ROOT
        return {
            name
            for name in names
            if (at_root and name in local_state)
            or name == "__pycache__"
            or name.endswith((".egg-info", "_cache"))
        }

    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=ignored)
    return copy


def edit(path: Path) -> None:
    assert path.is_file(), f"{path.name} is gone: update this test's list of files"
    path.write_text(path.read_text() + "\n# edited\n")


# Files of the workstation, which never ship, and files of what ships (the sdist or the image).
WORKSTATION_FILES = [
    "workflow/cloud/submit.py",
    "workflow/sweep.py",
    "tests/test_cloud.py",
    "README.md",
    "config/tiers.yaml",
]
SHIPPED_FILES = [
    "trainer/model.py",
    "requirements.txt",
    "Dockerfile",
    "docker/tensorflow-requirements.sh",
    "setup.py",
]


@pytest.mark.parametrize(
    ("edited_file", "ships"),
    [(name, False) for name in WORKSTATION_FILES] + [(name, True) for name in SHIPPED_FILES],
)
def test_the_image_tag_changes_with_an_edit_of_what_ships_alone(tmp_path, edited_file, ships):
    copy = project_copy(tmp_path)
    before = package.source_hash(copy)
    edit(copy / edited_file)
    assert (package.source_hash(copy) != before) == ships


def test_the_hash_covers_exactly_the_build_context_that_cloud_build_receives(tmp_path):
    """`gcloud builds submit` uploads what `gcloud meta list-files-for-upload` lists, after
    .gcloudignore: the hash and the build context cannot drift apart."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("gcloud is not installed: https://cloud.google.com/sdk/docs/install")
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),  # nothing read from the user's own config
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }
    listed = subprocess.run(
        [gcloud, "meta", "list-files-for-upload", str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    shipped = set(listed)
    hashed = {p.relative_to(ROOT).as_posix() for p in package.source_files(ROOT)}
    assert shipped - hashed == set(), "Cloud Build receives these, but the hash ignores them"
    assert hashed - shipped == set(), "the hash covers these, but Cloud Build never receives them"


def requirement_lines(requirements: Path) -> list[str]:
    """The requirement specifiers of a requirements file, without comments or pip options."""
    lines = (line.split(" #")[0].strip() for line in requirements.read_text().splitlines())
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def dependency_closure(requirements: Path) -> set[str]:
    """The distributions that installing `requirements` brings, for this platform and Python:
    its requirements and, recursively, theirs, with environment markers evaluated."""
    pending = [(Requirement(line), "") for line in requirement_lines(requirements)]
    seen: set[tuple[str, str]] = set()
    closure: set[str] = set()
    while pending:
        requirement, extra = pending.pop()
        name = canonicalize_name(requirement.name)
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        closure.add(name)
        for wanted_extra in {"", *requirement.extras}:
            if (name, wanted_extra) in seen:
                continue
            seen.add((name, wanted_extra))
            try:
                requires = metadata.requires(requirement.name) or []
            except metadata.PackageNotFoundError:
                pytest.fail(f"{requirement.name} is not installed: run `make install`")
            pending.extend((Requirement(spec), wanted_extra) for spec in requires)
    return closure


def module_owners() -> dict[str, set[str]]:
    """Every dotted module or package path that an installed distribution's files lie under
    ('google', 'google.protobuf', 'yaml', ...) -> those distributions. Dotted paths, not just
    top-level names: `google` is shared by protobuf and google-cloud-storage alike."""
    owners: dict[str, set[str]] = {}
    for distribution in metadata.distributions():
        name = canonicalize_name(distribution.metadata["Name"])
        for file in distribution.files or []:
            parts = list(file.parts)
            if parts[0] == ".." or parts[0].endswith((".dist-info", ".egg-info", ".data")):
                continue  # scripts and metadata, not modules
            if file.suffix in (".py", ".so", ".pyd"):
                parts[-1] = parts[-1].split(".")[0]  # model.cpython-311-x86_64-linux-gnu.so
            else:
                parts.pop()  # a data file: only its folders are importable
            for depth in range(1, len(parts) + 1):
                owners.setdefault(".".join(parts[:depth]), set()).add(name)
    return owners


def imported_modules(source: Path) -> set[str]:
    """The absolute imports of a module, anywhere in it (functions too), as the most specific
    dotted name each could be: `from google.cloud import storage` -> google.cloud.storage."""
    names = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def provider(module: str, owners: dict[str, set[str]]) -> set[str]:
    """The distributions that provide `module`: the owners of its longest installed prefix
    (`from tensorflow.python import Foo` is provided by what provides tensorflow.python)."""
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        found = owners.get(".".join(parts[:depth]))
        if found:
            return found
    return set()


def test_the_job_package_imports_only_what_requirements_txt_installs():
    closure = dependency_closure(ROOT / "requirements.txt")
    owners = module_owners()
    own_packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {JOB_PACKAGE}
    problems = []
    for where in sorted(job_sources(ROOT)):
        for module in sorted(imported_modules(ROOT / where)):
            top = module.split(".")[0]
            if top == JOB_PACKAGE or top in sys.stdlib_module_names:
                continue
            if top in own_packages:
                problems.append(f"{where} imports {top}, which stays on the workstation")
                continue
            found = provider(module, owners)
            if not found & closure:
                source_of = f" (it comes from {', '.join(sorted(found))})" if found else ""
                problems.append(
                    f"{where} imports {module}, which requirements.txt does not install{source_of}"
                )
    assert not problems, "the job would fail to import in the cloud:\n" + "\n".join(problems)
