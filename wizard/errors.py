"""The project's one error type, carried to the user with a title and a hint."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

QUOTE_LIMIT = 60
"""The most characters of a rejected value a message repeats."""


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A rejected value as a message shows it: quoted with its control characters escaped, and cut
    to a readable length (a 180 KB value must not come back as 180 KB of stderr)."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


class WizardError(Exception):
    """A failure the user can act on.

    Args:
        message: What happened, in one or two sentences.
        title: A short heading for an error modal or the first line on a terminal.
        hint: What to do next.
    """

    exit_code = 1

    def __init__(self, message: str, *, title: str = "Error", hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.title = title
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class BadInput(WizardError):
    """Input that cannot be used: nothing was changed (exit status 2)."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, at a dotted field path such as `s3.bucket`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProblemsError(BadInput):
    """Every problem found in one input, reported together."""

    def __init__(self, problems: Iterable[Problem], *, title: str = "Invalid input") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{len(self.problems)} problem(s):\n{lines}",
            title=title,
            hint="Fix the fields named above and run the command again; nothing was changed.",
        )


def as_wizard_error(error: BaseException) -> WizardError:
    """Any failure as the project's error: everyday AWS failures (no credentials, an endpoint that
    does not answer, a server error) with what to do, an AWS refusal with its code, anything else
    as unexpected (the traceback is for --debug)."""
    if isinstance(error, WizardError):
        return error
    everyday = aws_failure(error)
    if everyday is not None:
        return everyday
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        code = response["Error"].get("Code", "")
        return WizardError(
            str(error),
            title=f"AWS refused: {code}",
            hint="Check the credentials' permissions and the config; any state is saved, so "
            "run the command again when it is fixed (--debug shows the traceback).",
        )
    return WizardError(
        f"{type(error).__name__}: {error}",
        title="Unexpected error",
        hint="Run again with --debug for the traceback, and report it if it looks like a bug.",
    )


def failure_text(error: BaseException) -> str:
    """One failure in a line or two, for a step's or a resource's report: an everyday AWS
    failure as `aws_failure` words it (never a server's HTML page), anything else as is."""
    everyday = aws_failure(error)
    return str(error) if everyday is None else f"{everyday.title}: {everyday.message}"


_RESUME = "Nothing is lost: the state is saved, so run the same command again"


def aws_failure(error: BaseException) -> WizardError | None:
    """The everyday AWS failures, each with what to do, or None for any other error.

    - no credentials (or a named profile that does not exist);
    - an endpoint that cannot be reached (network, region, `--endpoint-url`, an emulator down);
    - a server error (HTTP 5xx), or an answer that is not AWS's at all (an HTML error page from
      a proxy or an emulator), reported by its status and title, never as the page itself.

    botocore is imported only by commands that call AWS: when it is not loaded, no error can be
    one of its own.
    """
    exceptions = sys.modules.get("botocore.exceptions")
    parsers = sys.modules.get("botocore.parsers")
    if exceptions is None:
        return None
    if isinstance(
        error,
        exceptions.NoCredentialsError
        | exceptions.PartialCredentialsError
        | exceptions.ProfileNotFound,
    ):
        return WizardError(
            f"AWS credentials are missing or incomplete: {error}.",
            title="No AWS credentials",
            hint="Give credentials the way the AWS CLI takes them: --profile (or AWS_PROFILE) "
            "naming a profile of ~/.aws/config, `aws sso login`, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY; `aws sts get-caller-identity` checks them. Nothing was "
            "changed by this attempt.",
        )
    if isinstance(error, exceptions.ConnectionError | exceptions.HTTPClientError):
        return WizardError(
            f"Cannot reach AWS: {error}.",
            title="AWS unreachable",
            hint="Check the network (a VPN or proxy), --region, and --endpoint-url or "
            f"aws.endpoint_url (an emulator must be running there). {_RESUME} once it answers.",
        )
    if isinstance(error, exceptions.ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if isinstance(status, int) and status >= 500:
            operation = getattr(error, "operation_name", "the call")
            return WizardError(
                f"AWS answered {operation} with HTTP {status}{_page_title(error)}: a failure "
                "on the service's side, not a refusal of the request.",
                title=f"AWS server error (HTTP {status})",
                hint=f"Wait a minute; check the AWS Health Dashboard (or the emulator's log). "
                f"{_RESUME}.",
            )
    if parsers is not None and isinstance(error, parsers.ResponseParserError):
        return WizardError(
            "The endpoint answered with something that is not an AWS response"
            f"{_page_title(error)}: an error page from a proxy, a load balancer or an emulator.",
            title="Not an AWS answer",
            hint="Check --endpoint-url or aws.endpoint_url and any proxy settings (HTTPS_PROXY); "
            f"{_RESUME} once the endpoint answers as AWS does.",
        )
    return None


def _page_title(error: BaseException) -> str:
    """`(500 Internal Server Error)` from an HTML page in the error, else nothing."""
    import re

    found = re.search(r"<title>([^<]{1,200})</title>", str(error), re.IGNORECASE)
    return f" ({' '.join(found.group(1).split())})" if found else ""
