"""Benchmark 6: upload throughput of the staging step against the storage emulator, next to a
plain `cp` of the same file.

    .venv/bin/python benchmarks/staging.py [--size-mb 100] [--repeats 3] [--quick]   (or by run.py)

Starts gcp-storage-emulator (in memory) on a free local port, writes one file of random bytes,
and times, best and median of the repeats:
- `cp` of the file to another path on the same disk (the floor: a local copy);
- workflow.gcs.upload_if_changed of the file, as `make stage-data` sends it (CRC32C; above
  16 MiB resumable, in 8 MiB chunks), each time to a new object so that it really uploads;
- the same call again on an unchanged object (CRC32C of the file plus one metadata request);
- a single-request upload of the same file, to show what the resumable chunks cost.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "template"))

from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.cloud import storage  # noqa: E402

import quick  # noqa: E402
from workflow import gcs  # noqa: E402


def start_emulator() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = Path(sys.executable).parent / "gcp-storage-emulator"
    process = subprocess.Popen(
        [str(binary), "start", "--port", str(port), "--in-memory", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1)
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the storage emulator did not start")


def timed(fn, repeats: int) -> list[float]:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100, help="file size in MiB")
    parser.add_argument("--repeats", type=int, default=3)
    # Just over the threshold, so that a quick pass uploads in resumable chunks as a full run does.
    quick_mb = gcs.RESUMABLE_THRESHOLD // 2**20 + 1
    args = quick.parse_args(parser, {"size_mb": quick_mb, "repeats": 1})

    process, url = start_emulator()
    try:
        client = storage.Client(
            project="bench",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": url},
        )
        bucket = client.create_bucket("bench")
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "data.bin"
            size = args.size_mb * 1024 * 1024
            with source.open("wb") as f:
                for _ in range(args.size_mb):
                    f.write(os.urandom(1024 * 1024))

            def copy(i: int) -> None:
                subprocess.run(["cp", str(source), str(Path(tmp) / f"copy-{i}.bin")], check=True)

            def upload(i: int) -> None:
                assert gcs.upload_if_changed(bucket, str(source), f"up-{i}.bin", progress=False)

            def unchanged(i: int) -> None:
                assert not gcs.upload_if_changed(bucket, str(source), "up-0.bin", progress=False)

            def single_request(i: int) -> None:
                with source.open("rb") as f:
                    bucket.blob("single.bin").upload_from_file(f, size=size)

            resumable = size > gcs.RESUMABLE_THRESHOLD  # as upload_if_changed decides
            rows = [
                ("cp (local copy)", timed(copy, args.repeats)),
                (
                    "upload_if_changed, "
                    + ("resumable 8 MiB chunks" if resumable else "one request (small file)"),
                    timed(upload, args.repeats),
                ),
                (
                    "upload_if_changed, unchanged (skipped)",
                    timed(unchanged, args.repeats),
                ),
                ("single-request upload", timed(single_request, args.repeats)),
            ]
            blob = bucket.get_blob("up-0.bin")
            assert blob.size == size and blob.crc32c == gcs.crc32c(str(source))
    finally:
        process.terminate()
        process.wait(timeout=10)

    cp_median = statistics.median(rows[0][1])
    print(f"### 6. Staging upload ({args.size_mb} MiB file, median of {args.repeats})")
    print()
    print("gcp-storage-emulator in memory on 127.0.0.1; `cp` between two paths on the same disk.")
    print()
    print(f"| {'operation':<44} | best s | median s | MiB/s (median) | x cp (median) |")
    print(f"|{'-' * 46}|-------:|---------:|---------------:|--------------:|")
    for name, times in rows:
        median = statistics.median(times)
        print(
            f"| {name:<44} | {min(times):6.3f} | {median:8.3f} | "
            f"{args.size_mb / median:14.1f} | {median / cp_median:13.1f} |"
        )
    print()


if __name__ == "__main__":
    main()
