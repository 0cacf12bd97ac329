"""Local HTTP endpoints that stand in for Google's APIs in tests: they record each request and
answer from a small route table. Real clients (gcloud, google-cloud-storage) are pointed at them
through endpoint overrides, so the tests assert on exactly what those clients send.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hands 3xx answers back as they are: a resumable upload answers 308 to each chunk."""

    def redirect_request(self, *args, **kwargs) -> None:
        return None


# No environment proxies: the upstream is a local server.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# A route answers (status, JSON body) for a request whose path matched its pattern.
Responder = Callable[[Request, re.Match], tuple[int, Any]]


@dataclass
class RecordingEndpoint:
    """An HTTP server on 127.0.0.1 that records requests and answers by route. With `upstream`,
    a request no route matches goes on to that server, and its answer comes back unchanged."""

    routes: list[tuple[str, re.Pattern, Responder]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    upstream: str | None = None
    # Called with each request before it is answered, such as to bring the upstream up to date.
    before: Callable[[Request], None] | None = None

    def route(self, method: str, pattern: str, responder: Responder) -> None:
        self.routes.append((method, re.compile(pattern), responder))

    def forward(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """Sends `request` to the upstream server: (status, headers, body)."""
        url = (
            self.upstream.rstrip("/")
            + request.path
            + (f"?{request.query}" if request.query else "")
        )
        skip = {"host", "content-length", "connection", "accept-encoding"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
        # gcloud quotes a multipart boundary with single quotes, which the storage emulator's
        # MIME parser does not read; double quotes mean the same in HTTP.
        headers = {
            k: re.sub(r"boundary='([^']*)'", r'boundary="\1"', v) for k, v in headers.items()
        }
        forwarded = urllib.request.Request(
            url, data=request.body or None, headers=headers, method=request.method
        )
        try:
            with _OPENER.open(forwarded, timeout=60) as response:
                status, answer_headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as err:
            status, answer_headers, body = err.code, err.headers, err.read()
        kept = {
            k: v.replace(self.upstream.rstrip("/"), self.url.rstrip("/"))
            for k, v in answer_headers.items()
            if k.lower() in ("content-type", "location", "range", "etag", "x-goog-hash")
        }
        return status, kept, body

    def start(self) -> RecordingEndpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command, path, query, dict(self.headers), self.rfile.read(length)
                )
                endpoint.requests.append(request)
                if endpoint.before is not None:
                    endpoint.before(request)
                status, body = 404, {"error": {"code": 404, "message": f"no route {path}"}}
                headers = {"Content-Type": "application/json"}
                for method, pattern, responder in endpoint.routes:
                    match = pattern.fullmatch(path)
                    if method == self.command and match:
                        status, body = responder(request, match)
                        break
                else:
                    if endpoint.upstream:
                        status, headers, body = endpoint.forward(request)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def bucket_metadata_endpoint(buckets: dict[str, tuple[str, str]]) -> RecordingEndpoint:
    """Answers Cloud Storage bucket metadata: {name: (location, locationType)}. The storage
    emulator cannot do this, since it reports every bucket as a US multi-region one."""
    endpoint = RecordingEndpoint()

    def get_bucket(request: Request, match: re.Match) -> tuple[int, Any]:
        name = match["name"]
        if name not in buckets:
            return 404, {"error": {"code": 404, "message": f"bucket {name} not found"}}
        location, location_type = buckets[name]
        return 200, {
            "kind": "storage#bucket",
            "name": name,
            "id": name,
            "location": location,
            "locationType": location_type,
        }

    endpoint.route("GET", r"/storage/v1/b/(?P<name>[^/]+)", get_bucket)
    return endpoint.start()


def storage_with_locations(emulator: str) -> RecordingEndpoint:
    """The storage emulator behind a recording proxy that keeps each bucket's location, as
    Cloud Storage does: a bucket created in `us-central1` reads back as a US-CENTRAL1 region
    (the emulator alone reports every bucket as a US multi-region). Point a client at `.url`."""
    endpoint = RecordingEndpoint(upstream=emulator)
    locations: dict[str, str] = {}
    endpoint.locations = locations  # a test may move a bucket: endpoint.locations[name] = "US"

    def with_location(status: int, body: bytes, name: str) -> Any:
        """The emulator's answer, with the remembered location when it is a bucket's metadata."""
        if status != 200 or name not in locations:
            return body
        location = locations[name].upper()
        # Regions have a digit (us-central1); multi-regions do not (US, EU, ASIA).
        kind = "region" if re.search(r"[0-9]", location) else "multi-region"
        return json.loads(body) | {"location": location, "locationType": kind}

    def create_bucket(request: Request, match: re.Match) -> tuple[int, Any]:
        sent = request.json()
        status, _, body = endpoint.forward(request)
        if status == 200:
            locations[sent["name"]] = sent.get("location", "US")
        return status, with_location(status, body, sent["name"])

    def get_bucket(request: Request, match: re.Match) -> tuple[int, Any]:
        status, _, body = endpoint.forward(request)
        return status, with_location(status, body, match["name"])

    endpoint.route("POST", r"/storage/v1/b", create_bucket)
    endpoint.route("GET", r"/storage/v1/b/(?P<name>[^/]+)", get_bucket)
    return endpoint.start()


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# What a job's descriptions reveal, one update each, unless a test gives it another course.
RUNNING_THEN_SUCCEEDED = ({"state": "JOB_STATE_RUNNING"}, {"state": "JOB_STATE_SUCCEEDED"})
ENDED_STATES = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")


@dataclass
class VertexJobs:
    """Vertex AI's custom and tuning jobs as the endpoint holds them. Each job has a course:
    the updates that its next descriptions reveal, one each (by default RUNNING, then
    SUCCEEDED), as a job moves on between two polls. `on_end` is called with a job once it has
    ended, as the trainer would have written its outputs by then."""

    jobs: dict[str, dict] = field(default_factory=dict)  # by resource name, oldest first
    courses: dict[str, list[dict]] = field(default_factory=dict)
    next_course: tuple[dict, ...] = RUNNING_THEN_SUCCEEDED  # of the next job created
    on_end: Callable[[dict], None] | None = None
    numbers: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def add(
        self,
        parent: str,
        collection: str,
        body: dict,
        course: tuple[dict, ...] | None = None,
    ) -> dict:
        """A new job under `parent` (projects/P/locations/R), PENDING, as Vertex AI creates it."""
        name = f"{parent}/{collection}/{next(self.numbers)}"
        created = now_rfc3339()
        self.jobs[name] = {
            "createTime": created,  # a test may give an older one
            "updateTime": created,
            **body,
            "name": name,
            "state": "JOB_STATE_PENDING",
        }
        self.courses[name] = list(self.next_course if course is None else course)
        return self.jobs[name]

    def describe(self, name: str) -> dict | None:
        """The job, moved on by the next update of its course."""
        job = self.jobs.get(name)
        if job is None or not self.courses[name]:
            return job
        job |= self.courses[name].pop(0)
        job["updateTime"] = now_rfc3339()
        if job["state"] == "JOB_STATE_RUNNING":
            job.setdefault("startTime", job["updateTime"])
        if job["state"] in ENDED_STATES and "endTime" not in job:
            job["endTime"] = job["updateTime"]
            if self.on_end:
                self.on_end(job)
        return job


def google_apis_endpoint(repositories: tuple[str, ...] = ("trainers",)) -> RecordingEndpoint:
    """Vertex AI, Cloud Build, Artifact Registry and Cloud Logging, as far as the scripts use
    them (gcloud's api_endpoint_overrides for aiplatform, cloudbuild, artifactregistry and
    logging can all point here). Jobs are accepted as sent, then listed, and described as their
    course goes (`endpoint.vertex_jobs`, a VertexJobs). A build reports WORKING, then SUCCESS,
    and its images are then listed in their Artifact Registry `repositories`. A job's log is
    `endpoint.logs[job id]`, a list of log lines."""
    endpoint = RecordingEndpoint()
    builds: dict[str, dict] = {}
    built: set[str] = set()
    vertex_jobs = VertexJobs()
    logs: dict[str, list[str]] = {}
    endpoint.vertex_jobs = vertex_jobs
    endpoint.logs = logs
    location = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)"
    collections = r"(?P<collection>customJobs|hyperparameterTuningJobs)"

    def parent(match: re.Match) -> str:
        return f"projects/{match['project']}/locations/{match['region']}"

    def create_job(request: Request, match: re.Match) -> tuple:
        return 200, vertex_jobs.add(parent(match), match["collection"], request.json())

    def get_job(request: Request, match: re.Match) -> tuple:
        name = f"{parent(match)}/{match['collection']}/{match['id']}"
        job = vertex_jobs.describe(name)
        if job is None:
            return 404, {
                "error": {"code": 404, "message": f"{name} not found", "status": "NOT_FOUND"}
            }
        return 200, job

    def list_jobs(request: Request, match: re.Match) -> tuple:
        prefix = f"{parent(match)}/{match['collection']}/"
        listed = [job for name, job in vertex_jobs.jobs.items() if name.startswith(prefix)]
        return 200, {match["collection"]: listed} if listed else {}

    def list_log_entries(request: Request, match: re.Match) -> tuple:
        """Cloud Logging's entries.list: the lines of the job the filter names, once."""
        job_id = re.search(r'resource\.labels\.job_id="([^"]+)"', request.json()["filter"])[1]
        entries = [
            {
                "logName": f"projects/p/logs/{job_id}",
                "resource": {
                    "type": "ml_job",
                    "labels": {"job_id": job_id, "task_name": "workerpool0-0"},
                },
                "severity": "INFO",
                "timestamp": "2026-01-01T00:00:00.000000Z",
                "insertId": f"{job_id}-{number}",
                "textPayload": line,
            }
            for number, line in enumerate(logs.pop(job_id, []))
        ]
        return 200, {"entries": entries} if entries else {}

    def create_build(request: Request, match: re.Match) -> tuple:
        build_id = str(uuid.uuid4())
        parent = f"projects/{match['project']}/locations/{match['region']}"
        builds[build_id] = {
            **request.json(),
            "id": build_id,
            "projectId": match["project"],
            "name": f"{parent}/builds/{build_id}",
            "status": "QUEUED",
            "logUrl": f"https://console.cloud.google.com/cloud-build/builds/{build_id}",
        }
        return 200, {
            "name": f"{parent}/operations/{build_id}",
            "metadata": {
                "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata",
                "build": builds[build_id],
            },
        }

    def describe_build(request: Request, match: re.Match) -> tuple:
        build = builds.get(match["id"])
        if build is None:
            return 404, {"error": {"code": 404, "message": f"build {match['id']} not found"}}
        build["status"] = "SUCCESS" if build["status"] == "WORKING" else "WORKING"
        if build["status"] == "SUCCESS":
            built.update(build.get("images", []))
        return 200, build

    def get_repository(request: Request, match: re.Match) -> tuple:
        if match["repo"] not in repositories:
            return 404, {"error": {"code": 404, "message": f"repository {match['repo']} not found"}}
        name = (
            f"projects/{match['project']}/locations/{match['region']}/repositories/{match['repo']}"
        )
        return 200, {"name": name, "format": "DOCKER"}

    def list_tags(request: Request, match: re.Match) -> tuple:
        host = f"{match['region']}-docker.pkg.dev"
        package = urllib.parse.unquote(match["package"])
        image = f"{host}/{match['project']}/{match['repo']}/{package}"
        parent = f"projects/{match['project']}/locations/{match['region']}"
        tags = [
            {"name": f"{parent}/repositories/{match['repo']}/packages/{package}/tags/{tag}"}
            for uri, _, tag in (i.rpartition(":") for i in sorted(built))
            if uri == image
        ]
        return 200, {"tags": tags} if tags else {}

    endpoint.route("POST", rf"{location}/{collections}", create_job)
    endpoint.route("GET", rf"{location}/{collections}", list_jobs)
    endpoint.route("GET", rf"{location}/{collections}/(?P<id>[^/]+)", get_job)
    endpoint.route("POST", r"/v2/entries:list", list_log_entries)
    endpoint.route("POST", rf"{location}/builds", create_build)
    endpoint.route("GET", rf"{location}/builds/(?P<id>[^/]+)", describe_build)
    endpoint.route("GET", rf"{location}/repositories/(?P<repo>[^/]+)", get_repository)
    endpoint.route(
        "GET",
        rf"{location}/repositories/(?P<repo>[^/]+)/packages/(?P<package>[^/]+)/tags",
        list_tags,
    )
    return endpoint.start()
