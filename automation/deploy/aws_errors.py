"""AWS errors as one line a person can act on: the one translator every AWS-calling command uses.

Two shapes, one wording (`<doing> failed: <Code>: <Message>`):
- `describe(error, doing)` for checks that report (a verification check, one decommissioned
  instance): the failure becomes a line in the report and the run goes on;
- `aws_call(doing)` around calls that raise: the run stops with `CredentialsProblem` when AWS
  refused the caller's identity, else `AutomationError`, never a botocore traceback.
Missing or expired credentials are named as such whoever reports them (boto3 here, pulumi-aws
through the Pulumi CLI's output in `pulumi_seam`): their fix (log in again, check the CI role
step) is different from a broken program or a denied permission.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    TokenRetrievalError,
    WaiterError,
)

from automation.errors import AutomationError

# Texts the AWS SDKs (Go, behind pulumi-aws; Python, boto3) put in their errors.
CREDENTIAL_MARKERS = (
    "NoCredentialProviders",
    "no valid credential sources",
    "ExpiredToken",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "security token included in the request is expired",
    "security token included in the request is invalid",
    "Unable to locate credentials",
    "failed to refresh cached credentials",
)

CREDENTIAL_ERROR_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    }
)

HOW_TO_FIX = (
    "configure credentials and retry (in CI: the role-assumption step; "
    "locally: `aws sso login` or AWS_PROFILE)"
)


class CredentialsProblem(AutomationError):
    """AWS refused the caller's identity (none found, expired, or invalid): exit 1."""


def credentials_marker(text: str) -> str | None:
    """The first credential-failure marker found in a tool's output, if any."""
    lowered = text.lower()
    return next((marker for marker in CREDENTIAL_MARKERS if marker.lower() in lowered), None)


def credentials_message(marker: str) -> str:
    return f"AWS credentials are missing or expired ({marker}): {HOW_TO_FIX}"


def boto_credentials_marker(error: Exception) -> str | None:
    """The reason when a boto3 failure is about credentials, else None."""
    if isinstance(error, NoCredentialsError | TokenRetrievalError):
        return type(error).__name__
    if isinstance(error, ClientError):
        response = error.response
    elif isinstance(error, WaiterError):  # a waiter wraps the API error it stopped on
        response = error.last_response or {}
    else:
        return None
    code = str(response.get("Error", {}).get("Code", ""))
    return code if code in CREDENTIAL_ERROR_CODES else None


def error_code(error: Exception) -> str:
    """An API error's code (`AccessDenied`, `InvalidTarget`...), or "" for any other error."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def describe(error: Exception, doing: str) -> str:
    """`<doing> failed: ` and why: the credentials problem, the API's code and message, or the
    reason a waiter gave up (with the error it stopped on). No traceback."""
    marker = boto_credentials_marker(error)
    if marker is not None:
        why = credentials_message(marker)
    elif isinstance(error, WaiterError):
        last = (error.last_response or {}).get("Error") or {}
        extra = f" ({last.get('Code')}: {last.get('Message')})" if last else ""
        why = f"{error.kwargs.get('reason', error)}{extra}"
    elif isinstance(error, ClientError):
        info = error.response.get("Error", {})
        why = f"{info.get('Code', 'error')}: {info.get('Message', error)}"
    elif isinstance(error, BotoCoreError):
        why = str(error)
    else:
        why = f"{type(error).__name__}: {error}"
    return f"{doing} failed: {why}"


@contextmanager
def aws_call(doing: str, *, then: str = "") -> Iterator[None]:
    """Run AWS calls whose failure stops the command: `describe()`'s line (and `then`, e.g.
    "; nothing was changed") as `CredentialsProblem` or `AutomationError` (exit 1).

    Errors raised inside on purpose (an `AutomationError` for a known code) pass through."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        message = describe(error, doing) + then
        if boto_credentials_marker(error) is not None:
            raise CredentialsProblem(message) from error
        raise AutomationError(message) from error
