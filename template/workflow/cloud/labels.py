"""Labels for everything the scripts create on Google Cloud, so that a billing export can be
grouped by them: the project, the tier, the git commit of the trainer (and whether its files had
uncommitted changes), who submitted, and the team's own labels from config/cloud.yaml.

Vertex AI's rules (as Cloud Billing's): at most 64 labels; keys of 1-63 lowercase letters,
digits, '_' and '-', starting with a letter; values of up to 63 of the same characters.
`project_labels()` is the one way to make them; `gcloud_flag()` writes them for `--labels`.
"""

from __future__ import annotations

import getpass
import re
import subprocess
from pathlib import Path

from workflow.cloud import package
from workflow.cloud.settings import CloudSettings, ConfigError

MAX_LABELS = 64
MAX_LENGTH = 63
KEY = re.compile(rf"[a-z][a-z0-9_-]{{0,{MAX_LENGTH - 1}}}")
VALUE = re.compile(rf"[a-z0-9_-]{{0,{MAX_LENGTH}}}")
NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")
# The labels the scripts set themselves; the team's own labels may not reuse these keys.
OWN_KEYS = ("project", "tier", "commit", "dirty", "submitter")
NO_COMMIT = "none"
# The files that ship in the job (the sdist's or the image's sources), as git pathspecs.
TRAINER_PATHS = sorted({pattern.split("/")[0] for pattern in package.SOURCE_PATTERNS})


def label_value(text: str) -> str:
    """`text` as a label value: lower case, each run of other characters as one '-', at most
    63 characters. "Ann's Penguins & Co." -> 'ann-s-penguins-co'."""
    return NOT_ALLOWED.sub("-", text.lower()).strip("-")[:MAX_LENGTH].rstrip("-")


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:  # no git on this machine
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def trainer_commit(root: Path) -> tuple[str, bool]:
    """The commit the trainer was submitted from, and whether its files differ from it. A
    project without a commit (or outside git) gives 'none', with its files counted as changed."""
    commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    if not commit:
        return NO_COMMIT, True
    changes = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *TRAINER_PATHS)
    return commit, changes != ""


def submitter(root: Path) -> str:
    """Who submits: git's user.email (the same on every machine of a person), else the login."""
    return label_value(_git(root, "config", "user.email") or getpass.getuser()) or "unknown"


def _as_text(value: object) -> object:
    """A label value as YAML may give it: true -> 'true', 42 -> '42', nothing -> ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int) else value


def check(labels: dict, where: str) -> dict[str, str]:
    """`labels` as text, once every key and value follows Vertex AI's rules."""
    if len(labels) > MAX_LABELS:
        raise ConfigError(f"{where}: {len(labels)} labels; Vertex AI takes at most {MAX_LABELS}")
    checked = {}
    for key, value in labels.items():
        text = _as_text(value)
        if not isinstance(key, str) or not KEY.fullmatch(key):
            raise ConfigError(
                f"{where}: label {key!r} is not a label key: 1-{MAX_LENGTH} lowercase letters, "
                "digits, '_' and '-', starting with a letter"
            )
        if not isinstance(text, str) or not VALUE.fullmatch(text):
            raise ConfigError(
                f"{where}: the value {value!r} of label {key} is not a label value: up to "
                f"{MAX_LENGTH} lowercase letters, digits, '_' and '-'"
            )
        checked[key] = text
    return checked


def project_labels(settings: CloudSettings, root: Path, **more: str) -> dict[str, str]:
    """The labels of anything this project creates: its name, its trainer's commit, who
    submits, `more` (such as tier='basic_gpu'), then the team's own labels."""
    team = check(settings.labels, "config/cloud.yaml: labels")
    reused = sorted(set(team) & {*OWN_KEYS, *more})
    if reused:
        raise ConfigError(
            f"config/cloud.yaml: labels: {', '.join(reused)} is set by the scripts; "
            "name your label otherwise"
        )
    commit, dirty = trainer_commit(root)
    own = {
        "project": label_value(settings.display_name),
        **more,
        "commit": commit,
        "dirty": dirty,
        "submitter": submitter(root),
    }
    return check(own | team, "the labels")


def gcloud_flag(labels: dict[str, str]) -> str:
    """The value of gcloud's --labels: 'key=value,key=value'."""
    return ",".join(f"{key}={value}" for key, value in labels.items())


def build_tags(labels: dict[str, str]) -> list[str]:
    """The labels as Cloud Build tags, 'key.value': a build takes tags, not labels, and '.'
    appears in neither a key nor a value."""
    return [f"{key}.{value}" if value else key for key, value in labels.items()]
