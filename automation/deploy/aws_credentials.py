"""Recognise missing or expired AWS credentials, whoever reports them (pulumi-aws or boto3).

A deploy that fails for want of credentials should say so in one line, not bury it in a provider
stack trace: the fix (log in again, check the CI role step) is different from a broken program.
"""

from __future__ import annotations

from botocore.exceptions import ClientError, NoCredentialsError, TokenRetrievalError, WaiterError

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
