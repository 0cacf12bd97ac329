"""BigQuery offline: bqemulator (BigQuery's SQL run on DuckDB), started for the tests, behind a
recording endpoint, so that a test runs every query the project sends and asserts on the
request bodies (labels, maximumBytesBilled, dry runs) too.

bqemulator reads and writes gs:// in a local folder (BQEMU_GCS_LOCAL_ROOT): `gcs_root/BUCKET/
NAME` stands for gs://BUCKET/NAME. The Cloud Storage emulator is another store, so a test puts a
raw file where both see it (`put_object`), and `sync_exports` copies what BigQuery exported into
the storage emulator, as the same bucket would hold it on Google Cloud.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from endpoints import RecordingEndpoint, Request

# bqemulator's DuckDB needs its spatial extension at start; offline, it must already be in
# $HOME/.duckdb/extensions/<version>/<platform>/, so the emulator gets a HOME holding a copy
# from the duckdb-extension-spatial package (the same DuckDB version, pinned beside it).
DUCKDB_VERSION = "v1.5.5"
PROJECT = "test-project"


@dataclass
class BigQueryEmulator:
    url: str  # the recording endpoint's: what the project's client is pointed at
    gcs_root: Path
    endpoint: RecordingEndpoint
    process: subprocess.Popen
    exported: dict[str, int] = field(default_factory=dict)  # synced files' mtimes
    lock: threading.Lock = field(default_factory=threading.Lock)

    def jobs(self) -> list[dict]:
        """The bodies of the jobs inserted since the last `forget()`: their configuration."""
        return [
            request.json()
            for request in self.endpoint.requests
            if request.method == "POST" and request.path.endswith("/jobs")
        ]

    def forget(self) -> None:
        self.endpoint.requests.clear()

    def put_object(self, storage_client, uri: str, content: bytes) -> None:
        """A file in gs://, where both BigQuery's loads and the storage client read it."""
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        path = self.gcs_root / bucket / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        storage_client.bucket(bucket).blob(name).upload_from_string(content)
        self.exported[str(path)] = path.stat().st_mtime_ns

    def sync_exports(self, storage_client) -> None:
        """Uploads what BigQuery wrote into its gs:// folder since the last sync to the storage
        emulator, under the same bucket and name."""
        with self.lock:
            for path in sorted(p for p in self.gcs_root.rglob("*") if p.is_file()):
                mtime = path.stat().st_mtime_ns
                if self.exported.get(str(path)) == mtime:
                    continue
                bucket, name = path.relative_to(self.gcs_root).as_posix().split("/", 1)
                storage_client.bucket(bucket).blob(name).upload_from_filename(str(path))
                self.exported[str(path)] = mtime

    def storage_endpoint(self, storage_emulator: str, storage_client) -> RecordingEndpoint:
        """The storage emulator behind an endpoint that first copies in what BigQuery exported
        (`sync_exports`, with `storage_client`, a client of the emulator itself): a client
        pointed at it sees one Cloud Storage, as on Google Cloud."""
        endpoint = RecordingEndpoint(upstream=storage_emulator)
        endpoint.before = lambda request: self.sync_exports(storage_client)
        return endpoint.start()

    def exported_file(self, uri: str) -> Path:
        return self.gcs_root / uri.removeprefix("gs://")


def start(work: Path, port: int) -> BigQueryEmulator:
    venv_bin = Path(sys.executable).parent
    spatial = glob.glob(
        str(
            venv_bin.parent
            / f"lib/python3*/site-packages/duckdb_extension_spatial/extensions/{DUCKDB_VERSION}"
            / "spatial.duckdb_extension"
        )
    )
    if not spatial:
        raise RuntimeError("duckdb-extension-spatial is not installed (tests/requirements.txt)")
    home = work / "home"
    extensions = home / ".duckdb" / "extensions" / DUCKDB_VERSION / "linux_amd64"
    extensions.mkdir(parents=True)
    shutil.copy(spatial[0], extensions)
    gcs_root = work / "gcs"
    gcs_root.mkdir()
    env = os.environ | {
        "HOME": str(home),
        "BQEMU_GCS_LOCAL_ROOT": str(gcs_root),
        "BQEMU_UPLOAD_STAGING_DIR": str(work / "uploads"),
        "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false",  # Avro and such would fetch extensions
    }
    log = (work / "emulator.log").open("w")
    process = subprocess.Popen(
        [
            str(venv_bin / "bqemulator"),
            *("start", "--rest-port", str(port), "--grpc-port", "0"),
            *("--project", PROJECT, "--log-level", "warning"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    upstream = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{upstream}/healthz", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    "bqemulator did not start: " + (work / "emulator.log").read_text()[-2000:]
                ) from None
            time.sleep(0.05)
    endpoint = RecordingEndpoint(upstream=upstream)
    endpoint.route(
        "POST", r"/bigquery/v2/projects/[^/]+/jobs", _dry_runs_write_nothing(endpoint, gcs_root)
    )
    endpoint.start()
    return BigQueryEmulator(endpoint.url.rstrip("/"), gcs_root, endpoint, process)


def _dry_runs_write_nothing(endpoint: RecordingEndpoint, gcs_root: Path):
    """bqemulator runs the EXPORT DATA of a dry run, and writes its files; BigQuery writes
    nothing in a dry run. This route forwards each job, and removes the files that a dry run's
    export wrote."""

    def insert_job(request: Request, match) -> tuple[int, Any]:
        dry = bool(request.json().get("configuration", {}).get("dryRun"))
        before = set(gcs_root.rglob("*")) if dry else set()
        status, _, body = endpoint.forward(request)
        if dry:
            for path in sorted(set(gcs_root.rglob("*")) - before, reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
        return status, json.loads(body)

    return insert_job
