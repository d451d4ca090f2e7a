"""One translator for AWS errors: the same line whether a check reports it or a command stops."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    WaiterError,
)

from automation.deploy.aws_errors import (
    CredentialsProblem,
    aws_call,
    credentials_marker,
    describe,
    error_code,
)
from automation.errors import AutomationError


def api_error(code: str, message: str, operation: str = "DescribeImages") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_an_api_error_is_doing_failed_code_message() -> None:
    error = api_error("AccessDenied", "User is not authorized")
    assert describe(error, "listing images") == (
        "listing images failed: AccessDenied: User is not authorized"
    )
    assert error_code(error) == "AccessDenied"
    assert error_code(ValueError("x")) == ""


@pytest.mark.parametrize(
    ("error", "marker"),
    [
        (NoCredentialsError(), "NoCredentialsError"),
        (
            api_error("ExpiredTokenException", "The security token is expired"),
            "ExpiredTokenException",
        ),
        (
            WaiterError(
                "ServicesStable",
                "Max attempts exceeded",
                {"Error": {"Code": "InvalidClientTokenId", "Message": "invalid"}},
            ),
            "InvalidClientTokenId",
        ),
    ],
    ids=["none-found", "expired", "inside-a-waiter"],
)
def test_credentials_are_named_the_same_way_everywhere(error: Exception, marker: str) -> None:
    line = describe(error, "describing services")
    assert line.startswith(
        f"describing services failed: AWS credentials are missing or expired ({marker}): "
    )
    with pytest.raises(CredentialsProblem) as raised, aws_call("describing services"):
        raise error
    assert str(raised.value) == line


def test_a_waiter_that_gave_up_says_why_and_on_what() -> None:
    error = WaiterError(
        "ImageAvailable",
        "Max attempts exceeded",
        {"Error": {"Code": "InvalidAMIID.NotFound", "Message": "no such image"}},
    )
    assert describe(error, "backup") == (
        "backup failed: Max attempts exceeded (InvalidAMIID.NotFound: no such image)"
    )


def test_a_call_that_raises_stops_with_one_line_and_what_follows() -> None:
    with (
        pytest.raises(AutomationError) as raised,
        aws_call("listing load balancers", then="; nothing was changed"),
    ):
        raise api_error("Throttling", "Rate exceeded", "DescribeLoadBalancers")
    assert type(raised.value) is AutomationError
    assert str(raised.value) == (
        "listing load balancers failed: Throttling: Rate exceeded; nothing was changed"
    )
    with pytest.raises(AutomationError, match="failed: Could not connect"), aws_call("x"):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


def test_errors_raised_on_purpose_pass_through() -> None:
    with pytest.raises(AutomationError, match=r"^image gone$"), aws_call("looking up"):
        raise AutomationError("image gone")


def test_the_pulumi_cli_output_is_searched_for_credential_markers() -> None:
    text = "error: configuring Terraform AWS Provider: no valid credential sources for it"
    assert credentials_marker(text) == "no valid credential sources"
    assert credentials_marker("error: program failed") is None
