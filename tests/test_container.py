"""The two ways the trainer ships, run as the cloud runs them, without Docker or a cloud:

- the custom container: exactly the files `gcloud builds submit` uploads (after .gcloudignore)
  go through the Dockerfile's own steps into a fresh virtualenv (over a cached one of the pinned
  dependencies, as Docker reuses that layer while the trainer changes), and the installed
  trainer trains from another directory, exports, and serves through `gcloud ai-platform local
  predict`; the GPU build's requirements resolve. The base image itself is not covered: FROM is
  not replayed.
- the prebuilt image: the sdist is installed the way Vertex AI installs it, into a virtualenv with
  the image's Python and the TensorFlow its name says, and trains one epoch; the submit's own
  check imports every module of the installed package, not only what `--help` needs.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name

from conftest import (
    TEST_CACHE,
    VENV_BIN,
    cache_lock,
    cached_virtualenv,
    interpreter,
    local_predict,
    render,
    run,
)

# Dockerfile instructions that change nothing outside an image.
NO_OPS = ("LABEL", "EXPOSE", "USER", "STOPSIGNAL", "HEALTHCHECK")
# The trainer's flags for a short run on the sample data.
SHORT_RUN = ("--num-epochs", "2", "--batch-size", "64")


def python_of(version: str) -> str:
    """An interpreter of `version` ("3.10"): python3.10 on PATH, or one that pyenv installed."""
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = [
        shutil.which(f"python{version}"),
        *sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"), reverse=True),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    pytest.skip(f"no Python {version} here: install it (pyenv install {version}) to run this test")


def new_virtualenv(path: Path, python: str) -> Path:
    """A fresh virtualenv with pip; returns its bin folder."""
    run([python, "-m", "venv", str(path)])
    return path / "bin"


def over_dependency_layer(bin_dir: Path, context: Path, python: str, variant: str) -> None:
    """Puts a cached virtualenv of what the image of `variant` installs from requirements.txt
    under the virtualenv of `bin_dir`, as Docker reuses the image's dependency layer while only
    the trainer changes: a .pth file adds its site-packages after the virtualenv's own. The
    Dockerfile's pip install then runs and finds each pin satisfied, and installs anything new
    above the layer; the trainer goes into the virtualenv itself."""
    printed = run(
        ["bash", "docker/tensorflow-requirements.sh", variant, "requirements.txt"], cwd=context
    )
    pins = [line for line in printed.stdout.splitlines() if line and not line.startswith("#")]
    layer = cached_virtualenv(f"image-{variant}-dependencies", python, pins).parent
    [layer_site] = layer.glob("lib/python*/site-packages")
    [site] = bin_dir.parent.glob("lib/python*/site-packages")
    (site / "dependency-layer.pth").write_text(f"{layer_site}\n")


def env_with(bin_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a command that runs the virtualenv's python and pip first."""
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(bin_dir.parent),
        **extra,
    }


def empty_gcloud_config(tmp_path: Path) -> dict[str, str]:
    """A gcloud configuration with nothing in it, shared with nothing."""
    return {"CLOUDSDK_CONFIG": str(tmp_path / "gcloud"), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}


# ---------------------------------------------------------------- the custom container


def build_context(project: Path, dest: Path, gcloud_env: dict[str, str]) -> Path:
    """A copy of exactly the files `gcloud builds submit` would upload from `project`."""
    listed = run(["gcloud", "meta", "list-files-for-upload", str(project)], env=gcloud_env)
    files = listed.stdout.split()
    assert files, "gcloud would upload nothing"
    for name in files:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / name, dest / name)
    return dest


def dockerfile_instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined."""
    logical, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    instructions = []
    for line in logical:
        word, _, rest = line.strip().partition(" ")
        instructions.append((word.upper(), rest.strip()))
    return instructions


def substitute(text: str, variables: dict[str, str]) -> str:
    """`${NAME}` and `$NAME` replaced as Docker replaces them in FROM."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m[1] or m[2], ""), text)


def replay_dockerfile(
    context: Path, image_root: Path, bin_dir: Path, build_args: dict[str, str]
) -> list[str]:
    """Runs the Dockerfile's steps here, with a virtualenv where the image has its Python:
    COPY from the build context (a source missing from it fails, as in `docker build`), RUN
    through the Dockerfile's SHELL in its WORKDIR (absolute paths under `image_root`).
    FROM is not replayed: the base image itself is not covered. Returns the ENTRYPOINT.
    Two changes to the RUN lines: pip keeps its cache (no --no-cache-dir), so that this test
    and CI reinstall from it; and /tmp/ is the image root's, so that parallel tests never share
    a file."""
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    shell = ["/bin/sh", "-c"]
    workdir = image_root
    entrypoint: list[str] = []
    for instruction, value in dockerfile_instructions(context / "Dockerfile"):
        if instruction == "ARG":
            name, _, default = value.partition("=")
            args[name] = build_args.get(name, default)
        elif instruction == "FROM":
            continue  # the virtualenv stands in for the base image
        elif instruction == "SHELL":
            shell = json.loads(value)
        elif instruction == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(value))
        elif instruction == "WORKDIR":
            workdir = image_root / value.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, target = shlex.split(value)
            for source in sources:
                copy_into_image(context, source, workdir, target)
        elif instruction == "RUN":
            command = value.replace(" --no-cache-dir", "")
            command = re.sub(r"(?<![\w./])/tmp/", f"{image_root}/tmp/", command)
            (image_root / "tmp").mkdir(exist_ok=True)
            run([*shell, command], cwd=workdir, env=env_with(bin_dir, **{**args, **env}))
        elif instruction == "ENTRYPOINT":
            entrypoint = json.loads(value)
        elif instruction not in NO_OPS:
            pytest.fail(f"this test does not replay the Dockerfile's {instruction}: teach it")
    assert entrypoint, "the Dockerfile has no ENTRYPOINT in exec form"
    return entrypoint


def copy_into_image(context: Path, source: str, workdir: Path, target: str) -> None:
    """COPY's rules: a folder's contents go into the target folder; a file into a target ending
    in / (or an existing folder), else to the target path."""
    origin = context / source
    if not origin.exists():
        pytest.fail(f"COPY {source}: not in the build context (see .gcloudignore)")
    dest = workdir / target
    if origin.is_dir():
        shutil.copytree(origin, dest, dirs_exist_ok=True)
    elif target.endswith("/") or dest.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, dest / origin.name)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, dest)


def base_python(dockerfile: Path) -> str:
    """The Python of the Dockerfile's base image, python:<version>-slim, with its ARG defaults."""
    args: dict[str, str] = {}
    for instruction, value in dockerfile_instructions(dockerfile):
        if instruction == "ARG":
            name, _, default = value.partition("=")
            args[name] = default
        elif instruction == "FROM":
            base_image = substitute(value, args)
            match = re.fullmatch(r"python:(\d+\.\d+)[\w.-]*", base_image)
            assert match, f"the base image {base_image} is not a python:<version> image"
            return match[1]
    pytest.fail(f"{dockerfile} has no FROM")


def labels_of(train_csv: Path, label: str) -> set[str]:
    with train_csv.open(newline="") as f:
        return {row[label] for row in csv.DictReader(f)}


@pytest.mark.long
def test_the_container_recipe_trains_and_serves_from_the_build_context(template, tmp_path):
    project = render(template, tmp_path / "project")
    gcloud_env = empty_gcloud_config(tmp_path)
    context = build_context(project, tmp_path / "context", gcloud_env)
    image_root = tmp_path / "image"
    python = python_of(base_python(context / "Dockerfile"))
    bin_dir = new_virtualenv(image_root / "venv", python)
    over_dependency_layer(bin_dir, context, python, "cpu")
    entrypoint = replay_dockerfile(context, image_root, bin_dir, {"TF_VARIANT": "cpu"})
    assert entrypoint[:3] == ["python", "-m", "trainer.task"], entrypoint

    # The job runs from elsewhere, so that only the installed package can be imported.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    job_dir = tmp_path / "job"
    run(
        [
            *entrypoint,
            *("--train-files", str(project / "data/train.csv")),
            *("--eval-files", str(project / "data/eval.csv")),
            *("--job-dir", str(job_dir), *SHORT_RUN),
        ],
        cwd=elsewhere,
        env=env_with(bin_dir),
    )
    installed = run(
        ["python", "-c", "import trainer; print(trainer.__file__)"],
        cwd=elsewhere,
        env=env_with(bin_dir),
    ).stdout.strip()
    assert installed.startswith(str(image_root / "venv")), installed
    assert (job_dir / "model/saved_model.pb").is_file()

    # gcloud runs `python` from PATH: the image's virtualenv serves its own export.
    predictions = local_predict(
        job_dir / "model",
        project / "data/instances.json",
        cwd=elsewhere,
        gcloud_env={**gcloud_env, "PATH": env_with(bin_dir)["PATH"]},
    )
    instances = (project / "data/instances.json").read_text().splitlines()
    assert len(predictions) == len(instances)
    species = labels_of(project / "data/train.csv", "species")
    for prediction in predictions:
        assert prediction["classes"] in species, prediction
        assert len(prediction["probabilities"]) == len(species), prediction
        assert sum(prediction["probabilities"]) == pytest.approx(1, abs=1e-4), prediction


def pinned(requirements: Path, package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==([\w.]+)", requirements.read_text(), re.M)
    assert match, f"{requirements.name} pins no {package}"
    return match[1]


def resolve_build_requirements(project: Path, variant: str, tmp_path: Path) -> dict[str, str]:
    """What the image of TF_VARIANT=`variant` installs, resolved for the Dockerfile's Python by
    `pip install --dry-run` (which reads the wheels' metadata only): name -> version. The TPU
    build's --find-links (Google's libtpu index) is left out: nothing here reaches Google, and
    the package index holds libtpu too."""
    printed = run(
        ["bash", "docker/tensorflow-requirements.sh", variant, "requirements.txt"], cwd=project
    )
    requirements = tmp_path / f"{variant}-requirements.txt"
    requirements.write_text(
        "".join(line for line in printed.stdout.splitlines(True) if "--find-links" not in line)
    )
    python = python_of(base_python(project / "Dockerfile"))
    return resolved_requirements(python, requirements.read_text(), tmp_path / f"{variant}-venv")


def resolved_requirements(python: str, requirements: str, scratch: Path) -> dict[str, str]:
    """What `pip install --dry-run -r` in a fresh virtualenv of `python` resolves `requirements`
    to: name -> version. Pinned packages' metadata never changes, so the answer is kept in
    TEST_CACHE for the same Python, the pip its virtualenvs get, and the same requirements, as
    pip keeps their wheels: resolving reads hundreds of megabytes of CUDA wheels for their
    metadata. A changed requirements file resolves anew."""
    pip = interpreter(python, "import sys, ensurepip; print(sys.version, ensurepip.version())")
    made_with = f"{pip}\n{requirements}"
    cached = TEST_CACHE / f"resolved-{hashlib.sha256(made_with.encode()).hexdigest()[:12]}.json"
    with cache_lock(cached.name):
        if not cached.is_file():
            bin_dir = new_virtualenv(scratch, python)
            (scratch / "requirements.txt").write_text(requirements)
            report = scratch / "report.json"
            run(
                [
                    *(str(bin_dir / "python"), "-m", "pip", "install", "--dry-run", "--quiet"),
                    *("--ignore-installed", "--report", str(report)),
                    *("-r", str(scratch / "requirements.txt")),
                ],
                env=env_with(bin_dir),
            )
            resolved = {
                canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]
            }
            cached.write_text(json.dumps({"made_with": made_with, "resolved": resolved}))
    return json.loads(cached.read_text())["resolved"]


def test_the_gpu_build_requirements_resolve(template, tmp_path):
    """What the GPU image installs (TF_VARIANT=gpu) resolves: the pinned TensorFlow with its
    CUDA wheels."""
    project = render(template, tmp_path / "project")
    resolved = resolve_build_requirements(project, "gpu", tmp_path)
    version = pinned(project / "requirements.txt", "tensorflow-cpu")
    assert resolved.get("tensorflow") == version, resolved
    assert "tensorflow-cpu" not in resolved, "the GPU image would hold two TensorFlows"
    assert resolved.get("keras") == pinned(project / "requirements.txt", "keras"), resolved
    cuda = {name for name in resolved if name.startswith("nvidia-")}
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12"} <= cuda, sorted(resolved)


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_the_tpu_build_requirements_resolve(template, tmp_path):
    """What the TPU image installs (TF_VARIANT=tpu) resolves: the tensorflow-tpu that
    requirements.txt's `# tpu:` line names (tensorflow-tpu lags TensorFlow's releases), no
    later than the TensorFlow pin, with the TensorBoard of that line, the pinned Keras, and
    libtpu."""
    project = render(template, tmp_path / "project")
    requirements = project / "requirements.txt"
    tpu_line = re.search(r"^# tpu: (.*)$", requirements.read_text(), re.M)
    assert tpu_line, "requirements.txt has no `# tpu:` line"
    tpu = dict(pin.split("==") for pin in tpu_line[1].split())
    assert set(tpu) == {"tensorflow-tpu", "tensorboard"}, tpu
    assert release(tpu["tensorflow-tpu"]) <= release(pinned(requirements, "tensorflow-cpu"))

    resolved = resolve_build_requirements(project, "tpu", tmp_path)
    assert resolved.get("tensorflow-tpu") == tpu["tensorflow-tpu"], resolved
    assert not {"tensorflow", "tensorflow-cpu"} & set(resolved), "two TensorFlows in the image"
    assert resolved.get("tensorboard") == tpu["tensorboard"], resolved
    assert resolved.get("keras") == pinned(requirements, "keras"), resolved
    assert "libtpu" in resolved, sorted(resolved)


# ---------------------------------------------------------------- the prebuilt image


# A Keras older than the trainer needs (3.7, for BackupAndRestore's double_checkpoint), as an
# image built when TensorFlow 2.17 came out may carry: the package must replace it.
IMAGE_KERAS = "keras==3.4.1"


def image_runtime(executor_image: str) -> tuple[str, str]:
    """The TensorFlow minor and the Python of a prebuilt Vertex AI image, read from its name:
    '.../tf-cpu.2-17.py310:latest' -> ('2.17', '3.10')."""
    match = re.search(r"/tf-cpu\.(\d+)-(\d+)\.py(\d)(\d+)", executor_image)
    assert match, f"{executor_image} is not named like .../tf-cpu.2-17.py310:latest"
    return f"{match[1]}.{match[2]}", f"{match[3]}.{match[4]}"


def build_sdist(project: Path, out_dir: Path) -> Path:
    """The sdist that the submit uploads, built by the project's own code."""
    printed = run(
        [
            str(VENV_BIN / "python"),
            "-c",
            "import sys; from pathlib import Path; from workflow.cloud import package; "
            "print(package.build_sdist(Path('.'), Path(sys.argv[1])))",
            str(out_dir),
        ],
        cwd=project,
    )
    return Path(printed.stdout.strip())


@pytest.mark.long
def test_the_prebuilt_images_tensorflow_trains_the_sdist_as_vertex_installs_it(template, tmp_path):
    """On the prebuilt path the job runs the image's TensorFlow, the one requirements.txt pins,
    and the pinned Keras, which the package installs over the image's own. A virtualenv stands
    in for the image: its Python and the TensorFlow its name says, an older Keras than the
    trainer needs (IMAGE_KERAS), and cloudml-hypertune, which the images carry. It gets the
    sdist through `pip install <sdist>`, as Vertex AI installs it, and trains one epoch, exports
    and serves."""
    project = render(template, tmp_path / "project", container="prebuilt")
    cloud = yaml.safe_load((project / "config/cloud.yaml").read_text())
    tf_minor, python_version = image_runtime(cloud["executor_images"]["cpu"])
    requirements = project / "requirements.txt"
    assert pinned(requirements, "tensorflow-cpu").startswith(f"{tf_minor}."), "pins disagree"
    image_packages = [f"tensorflow-cpu=={tf_minor}.*", IMAGE_KERAS, "cloudml-hypertune"]
    bin_dir = cached_virtualenv("prebuilt-image", python_of(python_version), image_packages)
    pip = [str(bin_dir / "python"), "-m", "pip"]
    sdist = build_sdist(project, tmp_path / "dist")
    distribution = sdist.name.split("-")[0]  # penguin_species_trainer-0.1.0.tar.gz
    # The image is kept between runs: each starts from its own Keras, without the package.
    with cache_lock(bin_dir.parent.name):
        run([*pip, "install", "--quiet", IMAGE_KERAS], env=env_with(bin_dir))
        run([*pip, "uninstall", "--yes", "--quiet", distribution], env=env_with(bin_dir))
        run([*pip, "install", "--quiet", str(sdist)], env=env_with(bin_dir))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    job_dir = tmp_path / "job"
    result = run(
        [
            *("python", "-m", "trainer.task"),
            *("--train-files", str(project / "data/train.csv")),
            *("--eval-files", str(project / "data/eval.csv")),
            *("--job-dir", str(job_dir), "--num-epochs", "1"),
        ],
        cwd=elsewhere,
        env=env_with(bin_dir),
    )
    versions = run(
        [
            *("python", "-c"),
            "from importlib.metadata import version; "
            "print(version('tensorflow-cpu'), version('keras'))",
        ],
        env=env_with(bin_dir),
    ).stdout.split()
    assert versions == [pinned(requirements, "tensorflow-cpu"), pinned(requirements, "keras")]
    assert (job_dir / "model/saved_model.pb").is_file(), result.stderr[-3000:]
    predictions = local_predict(
        job_dir / "model",
        project / "data/instances.json",
        cwd=elsewhere,
        gcloud_env={**empty_gcloud_config(tmp_path), "PATH": env_with(bin_dir)["PATH"]},
    )
    assert len(predictions) == len((project / "data/instances.json").read_text().splitlines())


def check_imports(project: Path, out_dir: Path) -> subprocess.CompletedProcess:
    """The submit's check of the package (workflow.cloud.package.check_imports) on the sdist of
    `project`; exits with the check's message when it refuses."""
    return run(
        [
            str(VENV_BIN / "python"),
            "-c",
            "import sys; from pathlib import Path; from workflow.cloud import package\n"
            "try:\n    package.check_imports(package.build_sdist(Path('.'), Path(sys.argv[1])))\n"
            "except package.PackageError as err:\n    sys.exit(str(err))",
            str(out_dir),
        ],
        cwd=project,
        check=False,
    )


def test_the_package_check_imports_what_the_job_imports_not_only_the_help(template, tmp_path):
    """A module that only model.py imports, in a subfolder without __init__.py: it imports from
    the source tree, `--help` never reaches it, and setup.py leaves it out of the package. The
    submit's check of the installed package names it before anything is uploaded."""
    project = render(template, tmp_path / "project")
    passed = check_imports(project, tmp_path / "dist-before")
    assert passed.returncode == 0, passed.stderr

    (project / "trainer/extras").mkdir()
    (project / "trainer/extras/layers.py").write_text("WIDTH = 8\n")
    model = project / "trainer/model.py"
    model.write_text(
        model.read_text().replace(
            "\nimport keras\n",
            "\nimport keras\nfrom trainer.extras import layers  # noqa: F401\n",
            1,
        )
    )
    assert "trainer.extras" in model.read_text()
    python = str(VENV_BIN / "python")
    run([python, "-c", "import trainer.model"], cwd=project)  # fine from the source tree
    run([python, "-m", "trainer.task", "--help"], cwd=project)

    refused = check_imports(project, tmp_path / "dist-after")
    assert refused.returncode != 0, "the check passed a package that cannot train"
    assert "No module named 'trainer.extras'" in refused.stderr, refused.stderr
