"""Shared fixtures of the template's tests: a tagged clone of the template, a render helper,
a command runner, and an isolated gcloud configuration.

Tests render from a clone of the working tree (uncommitted edits included), tagged, so that
they never depend on the live checkout being clean and `_commit` always resolves to a tag.
"""

from __future__ import annotations

import configparser
import contextlib
import csv
import datetime
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import copier
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TEMPLATE_TAG = "v999.0.0"


# Virtualenvs of large wheels that tests stand a cloud image up with (a prebuilt image's
# TensorFlow, the serving image's): kept between runs, outside the checkout, so that each is
# installed once per machine, not on every fresh clone that CI tests.
TEST_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "copier-cloud-trainer-tests"
)


@contextlib.contextmanager
def cache_lock(name: str):
    """Holds TEST_CACHE/name.lock, so that two test workers never build the same entry at once."""
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    with open(TEST_CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def interpreter(python: str, code: str) -> str:
    """What `python -c code` prints, stripped: an interpreter's own account of itself."""
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def cached_virtualenv(name: str, python: str, packages: list[str]) -> Path:
    """The bin folder of a virtualenv of `python` with `packages` installed, made once in
    TEST_CACHE and reused while its Python and packages are the same. A run cut short leaves no
    marker, and the next one makes it afresh."""
    made_with = "\n".join([interpreter(python, "import sys; print(sys.version)"), *packages]) + "\n"
    key = hashlib.sha256(made_with.encode()).hexdigest()[:12]
    venv = TEST_CACHE / f"{name}-{key}"
    marker = venv / "made-with.txt"
    with cache_lock(venv.name):
        if not (marker.is_file() and marker.read_text() == made_with):
            run([python, "-m", "venv", "--clear", str(venv)])
            run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet", *packages])
            marker.write_text(made_with)
    return venv / "bin"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` (an end-to-end run of most of a minute) go first, in their order: the
    workers start them early and then share the short ones, instead of one worker running the
    last long test alone while the others wait.

    A test that uses a fixture its own module makes once (module or session scope: a prepared
    project, a tuning sweep, an emulator) joins its module's xdist group, unless it names one:
    each worker would otherwise make the fixture again for its share of the tests."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
    for item in items:
        module = item.nodeid.split("::")[0]
        if item.get_closest_marker("xdist_group") is None and any(
            definition.baseid == module and definition.scope in ("module", "session")
            for definitions in item._fixtureinfo.name2fixturedefs.values()
            for definition in definitions
        ):
            item.add_marker(pytest.mark.xdist_group(module))


def run(
    args: list[str] | str,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = 900,
) -> subprocess.CompletedProcess:
    """Runs a command with the test venv first on PATH; on failure, shows its output."""
    full_env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        **(env or {}),
    }
    # The test venv holds bqemulator, whose pytest plugin needs Docker's testcontainers: a
    # pytest started here (a generated project's `make test`) leaves it out, as pytest.ini does.
    full_env["PYTEST_ADDOPTS"] = f"-p no:bqemulator {full_env.get('PYTEST_ADDOPTS', '')}".strip()
    result = subprocess.run(
        args,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        shell=isinstance(args, str),
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"`{args}` exited {result.returncode}\n--- stdout\n{result.stdout[-6000:]}"
            f"\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def local_predict(
    model_dir: Path, instances: Path | str, cwd: Path, gcloud_env: dict[str, str]
) -> list[dict]:
    """The predictions of the real `gcloud ai-platform local predict`, one dict per instance."""
    result = run(
        [
            *("gcloud", "ai-platform", "local", "predict"),
            *("--model-dir", str(model_dir), "--json-instances", str(instances)),
            *("--format", "json"),
        ],
        cwd=cwd,
        env=gcloud_env,
    )
    return json.loads(result.stdout)["predictions"]


def copier_config() -> dict:
    return yaml.safe_load((ROOT / "copier.yml").read_text())


def choices(question: str) -> list[str]:
    """The values a question accepts, read from copier.yml (its choices map labels to values)."""
    return list(copier_config()[question]["choices"].values())


# The generated tests that measure what a feature kind is worth: each trains models on tables of
# its own, whatever the project's answers. The template's tests that run a generated suite once
# more (an updated project, a prebuilt one, the schema sweep's later cases) leave them out; the
# sweep's first case runs them.
QUALITY_TESTS = (
    "tests/test_dates.py::test_a_date_feature_cuts_the_error_on_a_seasonal_label_to_a_third",
    "tests/test_hashing.py::test_a_hashed_id_cuts_the_error_on_a_label_that_depends_on_it_by_60_percent",
    "tests/test_buckets.py::test_crossed_buckets_halve_the_error_on_a_label_of_two_numbers_at_once",
)


def leaving_out(project: Path, tests: tuple[str, ...]) -> str:
    """pytest options that leave out `tests` (files, or `file::test` ids) of a generated project's
    suite. A test renamed since would run again, silently: it is named instead."""
    options = ""
    for test in tests:
        path, _, name = test.partition("::")
        assert (project / path).is_file(), f"{path} is gone: update the list that names it"
        if name:
            text = (project / path).read_text()
            assert f"def {name}(" in text, f"{test} is gone: update the list that names it"
        options += f" --deselect {test}" if name else f" --ignore {path}"
    return options


def snapshot_template(dest: Path, tag: str = TEMPLATE_TAG) -> Path:
    """Copies the working tree's files (tracked and untracked, not ignored) into a new repo
    at `dest`, commits and tags it."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-c", "user.name=tests", "-c", "user.email=tests@example.com"]
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["commit", "-qm", "snapshot"],
        ["tag", tag],
    ):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    """A tagged clone of the template."""
    return snapshot_template(tmp_path_factory.mktemp("template"))


def render(
    template: Path, dest: Path, vcs_ref: str = TEMPLATE_TAG, pretend: bool = False, **answers
) -> Path:
    """`copier copy --trust --defaults` with `answers` as --data; returns the project dir.
    With `pretend`, copier runs the validators and writes nothing."""
    copier.run_copy(
        str(template),
        str(dest),
        data=answers,
        defaults=True,
        unsafe=True,
        vcs_ref=vcs_ref,
        quiet=True,
        pretend=pretend,
    )
    return dest


@pytest.fixture(scope="session")
def default_project(template, tmp_path_factory) -> Path:
    """The project `copier copy --defaults` makes: the penguins classifier."""
    return render(template, tmp_path_factory.mktemp("penguins") / "project")


def gcloud_config(directory: Path, properties: dict[str, str]) -> dict[str, str]:
    """An isolated gcloud configuration in `directory` with `properties` set (such as
    api_endpoint_overrides/aiplatform), nothing shared with the user's own ~/.config/gcloud.

    Written as `gcloud config set` writes it (the default configuration's properties file, a
    property `section/name` or a core `name`), which the gcloud commands under test then read.
    A `gcloud config set` per property cost half a second of gcloud's startup each: 53 a run."""
    sections: dict[str, dict[str, str]] = {}
    for name, value in properties.items():
        section, _, key = name.rpartition("/")
        sections.setdefault(section or "core", {})[key] = value
    config = configparser.ConfigParser()
    config.read_dict(sections)
    (directory / "configurations").mkdir(parents=True, exist_ok=True)
    (directory / "active_config").write_text("default")
    with (directory / "configurations/config_default").open("w") as f:
        config.write(f)
    return {"CLOUDSDK_CONFIG": str(directory), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}


@pytest.fixture
def gcloud_env(tmp_path) -> dict[str, str]:
    """An isolated gcloud configuration: no credentials, a project set."""
    return gcloud_config(
        tmp_path / "gcloud", {"auth/disable_credentials": "True", "project": "test-project"}
    )


# Tuning parameters that the config loader must refuse, each with its message: an unknown id
# (the trainer's flag is learning-rate), min above max, and a log scale reaching 0.
BAD_TUNING_PARAMETERS = [
    (
        {"parameterId": "learning_rate", "doubleValueSpec": {"minValue": 0.1, "maxValue": 1}},
        "parameter 'learning_rate' is not a hyperparameter flag of the trainer",
    ),
    (
        {"parameterId": "dropout", "doubleValueSpec": {"minValue": 0.5, "maxValue": 0.1}},
        "parameter 'dropout': minValue (0.5) must be below maxValue (0.1)",
    ),
    (
        {
            "parameterId": "learning-rate",
            "doubleValueSpec": {"minValue": 0.0, "maxValue": 0.1},
            "scaleType": "UNIT_LOG_SCALE",
        },
        "parameter 'learning-rate': a log scale needs a range above 0, but minValue is 0.0",
    ),
]


# The answers of a project for write_houses' data: a regression with every kind of feature, and
# max_vocabulary 10, which its 40 agents exceed.
HOUSES_ANSWERS = {
    "project_name": "House Prices",
    "task_type": "regression",
    "label_column": "price",
    "numeric_features": ["rooms", "area_m2"],
    "datetime_features": ["listing_date"],
    "categorical_features": ["city", "agent_id"],
    "max_vocabulary": 10,
    "model_type": "wide_deep",
}


def write_houses(path: Path, n: int = 300, missing_rooms: str = "") -> Path:
    """House prices, a regression dataset unlike the penguins: unused columns (an id, a note with
    a comma), a date, an agent's id (40 agents, so a category that a small max_vocabulary
    hashes), and missing values (empty, or `missing_rooms` in the rooms column)."""
    cities = ["Lyon", "Oslo", "Kyoto"]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["listing_id", "listing_date", "city", "agent_id", "rooms", "notes", "area_m2", "price"]
        )
        for i in range(n):
            rooms, area, city = 1 + i % 5, 30 + (i * 7) % 90, cities[i % 3]
            price = 1000 * area + 20000 * rooms + 50000 * cities.index(city)
            # Three years of ISO 8601 dates, a time in every fourth, missing in every 19th.
            day = datetime.date(2021, 1, 1) + datetime.timedelta(days=(i * 37) % 1095)
            listed = f"{day}T{9 + i % 9:02d}:30:00" if i % 4 == 0 else str(day)
            writer.writerow(
                [
                    f"id-{i}",
                    listed if i % 19 else "",
                    city if i % 11 else "",
                    f"agent-{(i * 7) % 40}" if i % 23 else "",
                    rooms if i % 13 else missing_rooms,
                    "has, a comma",
                    area,
                    price if i % 29 else "",
                ]
            )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def storage_emulator():
    """A Cloud Storage emulator (gcp-storage-emulator, in memory); returns its URL, the value
    for STORAGE_EMULATOR_HOST. It serves uploads, downloads and listing, but ignores bucket
    locations and names."""
    port = free_port()
    process = subprocess.Popen(
        [str(VENV_BIN / "gcp-storage-emulator"), "start", "--port", str(port), "--in-memory", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    host = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{host}/storage/v1/b", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("the storage emulator did not start")
    yield host
    process.terminate()
    process.wait(timeout=10)


def storage_client(endpoint: str):
    """A google-cloud-storage client for a local endpoint, with no credentials."""
    from google.auth.credentials import AnonymousCredentials  # noqa: PLC0415
    from google.cloud import storage  # noqa: PLC0415

    return storage.Client(
        project="test-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": endpoint.rstrip("/")},
    )
