"""A module run with the bytes its process reads counted from outside: `rchar` of /proc/self/io,
written to the file $RCHAR_FILE names as the process exits (its imports included).

    subprocess.run([sys.executable, "-c", counted.code("trainer.task"), *args], env=...)
"""

from __future__ import annotations

_CODE = """
import atexit, os, runpy, sys
def report():
    io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
    with open(os.environ["RCHAR_FILE"], "w") as f:
        f.write(io["rchar"])
atexit.register(report)
sys.argv[0] = {module!r}
runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
"""


def code(module: str) -> str:
    """Python code for `python -c` that runs `module` as `python -m` would, counted."""
    return _CODE.format(module=module)
