"""One `error:` line, and exit status 1, instead of a traceback: how every workstation command
that talks to Google Cloud ends on a failure its user can fix."""

from __future__ import annotations

import sys
from collections.abc import Callable

import google.auth.exceptions
from google.api_core import exceptions as google_exceptions


def exit_status(action: Callable[[], int | None], expected: tuple[type[Exception], ...]) -> int:
    """Runs `action`, whose None means success. An `expected` error (its message already says
    what to do), a request Cloud Storage refused, or credentials that do not work is printed as
    one `error:` line on stderr, and the status is 1."""
    try:
        return action() or 0
    except expected as err:
        message = str(err)
    except google_exceptions.GoogleAPICallError as err:
        message = f"Cloud Storage refused a request: {err}"
    except google.auth.exceptions.RefreshError as err:
        message = (
            f"the Application Default Credentials do not work ({err}); "
            "run `gcloud auth application-default login`"
        )
    print(f"error: {message}", file=sys.stderr)
    return 1
