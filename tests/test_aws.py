"""The boto3 factory against the emulator server: the read-only guard, the call recorder,
and retries through injected throttling and 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from wizard.aws import Aws, AwsSettings, CallRecorder, ReadOnlyViolation, error_code, is_read


def _aws(endpoint: str, **kwargs: Any) -> Aws:
    return Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint), **kwargs)


@pytest.mark.parametrize(
    ("operation", "read"),
    [
        ("DescribeDBInstances", True),
        ("ListBuckets", True),
        ("GetParameters", True),
        ("HeadObject", True),
        ("GetCallerIdentity", True),
        ("GetTemplateSummary", True),
        ("CreateBucket", False),
        ("PutParameter", False),
        ("RegisterTaskDefinition", False),
        ("CreateChangeSet", False),
        ("GetAuthorizationToken", False),
    ],
)
def test_read_operations_by_name(operation: str, read: bool) -> None:
    assert is_read(operation) is read


def test_guard_refuses_writes_before_they_reach_aws(aws_endpoint: str) -> None:
    guarded = _aws(aws_endpoint, read_only=True)
    assert guarded.client("sts").get_caller_identity()["Account"] == "123456789012"
    with pytest.raises(ReadOnlyViolation) as refused:
        guarded.client("s3").create_bucket(Bucket="must-not-exist")
    assert "s3.CreateBucket would change AWS" in refused.value.message
    assert "Nothing was changed" in refused.value.hint
    # what AWS holds proves the request never left
    assert _aws(aws_endpoint).client("s3").list_buckets()["Buckets"] == []
    assert guarded.recorder.mutating() == {"s3.CreateBucket": 1}


def test_recorder_counts_every_call(aws_endpoint: str) -> None:
    recorder = CallRecorder()
    aws = _aws(aws_endpoint, recorder=recorder)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="counted")
    s3.list_buckets()
    s3.list_buckets()
    assert recorder.counts == {"s3.CreateBucket": 1, "s3.ListBuckets": 2}
    assert recorder.mutating() == {"s3.CreateBucket": 1}
    assert aws.client("s3") is s3  # one client per service


@pytest.mark.parametrize(
    ("status", "code"), [(400, "ThrottlingException"), (503, "ServiceUnavailable")]
)
def test_throttling_and_5xx_are_retried(aws_endpoint: str, status: int, code: str) -> None:
    aws = _aws(aws_endpoint)
    failures = {"left": 3}

    def inject(request: Any, **_: Any) -> AWSResponse | None:
        if failures["left"] > 0:
            failures["left"] -= 1
            body = (
                f'{{"__type": "{code}", "message": "slow down"}}'
                if "json" in request.headers.get("Content-Type", b"").decode()
                else f"<ErrorResponse><Error><Code>{code}</Code><Message>slow down</Message>"
                "</Error></ErrorResponse>"
            ).encode()
            return AWSResponse(request.url, status, {}, _Raw(body))
        return None

    aws.register("before-send.ssm.PutParameter", inject)
    aws.client("ssm").put_parameter(Name="/retry/test", Value="v", Type="String")
    assert failures["left"] == 0
    value = aws.client("ssm").get_parameter(Name="/retry/test")["Parameter"]["Value"]
    assert value == "v"


def test_a_handler_reaches_clients_made_before_it(aws_endpoint: str) -> None:
    """botocore copies the session's handlers into a client when it is made; the TUI makes the
    later steps' clients ahead of time, so a handler added afterwards must reach them too."""
    from botocore.exceptions import ClientError

    aws = _aws(aws_endpoint)
    early = aws.client("ssm")  # made before the handler, as the TUI's warm-up makes them

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutParameter")

    aws.register("before-call.ssm.PutParameter", refuse)
    with pytest.raises(ClientError, match="AccessDenied"):
        early.put_parameter(Name="/early/test", Value="v", Type="String")


def test_error_code_of_client_errors(aws_endpoint: str) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        _aws(aws_endpoint).client("ssm").get_parameter(Name="/missing")
    assert error_code(caught.value) == "ParameterNotFound"
    assert error_code(ValueError("x")) == ""


class _Raw:
    """The minimal raw-response object botocore reads a body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body


def test_stop_ends_a_pause_and_refuses_the_next_call(aws_endpoint: str) -> None:
    import threading

    from wizard.aws import Interrupted

    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    sts = aws.client("sts")
    sts.get_caller_identity()
    pausing = threading.Event()
    outcome: list[BaseException] = []

    def long_pause() -> None:
        pausing.set()
        try:
            aws.pause(3600)  # AWS's pace for an hour, unless stopped
        except Interrupted as error:
            outcome.append(error)

    thread = threading.Thread(target=long_pause)
    thread.start()
    assert pausing.wait(timeout=30)
    aws.stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(outcome) == 1 and outcome[0].exit_code == 130
    with pytest.raises(Interrupted):
        sts.get_caller_identity()
    assert aws.recorder.counts == {"sts.GetCallerIdentity": 1}  # the refused call never left
