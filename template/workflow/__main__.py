"""Every workstation command, in the order of the workflow: `python -m workflow COMMAND [ARGS]`.

    python -m workflow --help              # the commands, each with what it does
    python -m workflow prepare --help      # one command's own options

The make targets and scripts/*.sh call these; each command is the `main` of the module that
holds it, imported only when it runs (a command that needs TensorFlow loads it; the others start
at once). The job itself is `python -m trainer.task`, not one of these: it is what ships.
"""

from __future__ import annotations

import importlib
import sys
from typing import NamedTuple


class Command(NamedTuple):
    module: str  # whose main(argv) runs the command
    first_args: tuple[str, ...]  # put before the command's own arguments
    summary: str


# The module of the data preparation's commands (workflow/data/).
DATA_COMMANDS = "workflow.data.cli"

COMMANDS = {
    "describe": Command(DATA_COMMANDS, ("describe",), "per-column counts and ranges of a CSV"),
    "schema": Command(DATA_COMMANDS, ("schema",), "propose the features of a CSV for a label"),
    "prepare": Command(DATA_COMMANDS, ("prepare",), "clean and split a CSV; instances, stats"),
    "stats": Command("workflow.split_stats", (), "write the stats file of given CSV files"),
    "check-instances": Command("workflow.instances", (), "check instances against the schema"),
    "local-predict": Command("workflow.serving.local_predict", (), "predict with gcloud, locally"),
    "evaluate": Command("workflow.evaluate", (), "score an exported model on CSV files"),
    "sweep": Command("workflow.sweep", (), "tune hyperparameters on this machine"),
    "stage-data": Command("workflow.staging", (), "upload the prepared data to the bucket"),
    "submit": Command("workflow.cloud.submit", (), "train on Vertex AI with a scale tier"),
    "hptune": Command("workflow.cloud.submit", ("--tune",), "tune on Vertex AI"),
    "jobs": Command("workflow.cloud.jobs", ("list",), "this project's recent Vertex AI jobs"),
    "logs": Command("workflow.cloud.jobs", ("logs",), "stream a custom job's logs"),
    "wait": Command("workflow.cloud.jobs", ("wait",), "wait until a job ends"),
    "fetch": Command("workflow.cloud.jobs", ("fetch",), "download a job's metrics and model"),
    "deploy": Command("workflow.serving.deploy", (), "serve a job's model on the endpoint"),
    "predict-cloud": Command("workflow.serving.predict", (), "predict on the endpoint"),
    "undeploy": Command("workflow.serving.undeploy", (), "stop serving on the endpoint"),
    "batch-predict": Command("workflow.serving.batch", (), "a Vertex AI batch prediction job"),
    "parity-check": Command("workflow.serving.parity", (), "serve alike in the serving image"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    return "\n".join(
        [
            "usage: python -m workflow COMMAND [ARGS...]   (python -m workflow COMMAND --help)",
            "",
            "commands, in the order of the workflow:",
            *lines,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"error: unknown command '{name}'\n\n{usage()}", file=sys.stderr)
        return 2
    command = COMMANDS[name]
    return importlib.import_module(command.module).main([*command.first_args, *rest])


if __name__ == "__main__":
    sys.exit(main())
