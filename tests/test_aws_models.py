"""The wizard's clients load botocore's models without their prose (wizard/aws_models.py):
calls work as before against the emulator, and a launch's clients cost the wizard's process
less memory (issue 10 item 13: the memory at the summary)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_python
from wizard.aws import Aws, AwsSettings
from wizard.session import PREFETCHED_CLIENTS

CLIENTS_MIB = 50.0
"""What the clients of a TUI walk may add to a process's RSS. With botocore's own loader they
add ~62 MiB (EC2's model alone ~24); without the prose ~40."""


def test_a_model_has_no_prose_and_calls_still_work(aws_endpoint: str) -> None:
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    ec2 = aws.client("ec2")
    model = ec2.meta.service_model
    assert model.operation_model("DescribeVpcs").documentation == ""
    assert model.shape_for("Vpc").documentation == ""
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    found = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert [v["CidrBlock"] for v in found] == ["10.9.0.0/16"]
    # botocore reads a client context parameter's documentation with [...]: S3 has some
    s3 = aws.client("s3")
    assert {p.name for p in s3.meta.service_model.client_context_parameters} >= {"Accelerate"}
    s3.create_bucket(Bucket="lean-models")
    assert "lean-models" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_member_named_documentation_is_kept(tmp_path: Path) -> None:
    from wizard.aws_models import LeanJSONFileLoader

    model = {
        "documentation": "A long text no call reads.",
        "shapes": {
            "Part": {
                "type": "structure",
                "members": {"documentation": {"shape": "String", "documentation": "prose"}},
            }
        },
    }
    (tmp_path / "service-2.json").write_text(json.dumps(model), encoding="utf-8")
    loaded = LeanJSONFileLoader().load_file(str(tmp_path / "service-2"))
    assert loaded is not None
    assert loaded["documentation"] == ""
    member = loaded["shapes"]["Part"]["members"]["documentation"]
    assert member == {"shape": "String", "documentation": ""}
    assert LeanJSONFileLoader().load_file(str(tmp_path / "missing")) is None


MEASURE = """
import json, sys
from wizard.aws import Aws, AwsSettings, warm_up
from wizard.session import PREFETCHED_CLIENTS

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

warm_up()
before = rss()
aws = Aws(AwsSettings(region="us-east-1", endpoint_url=sys.argv[1]))
for service in ("sts", *PREFETCHED_CLIENTS):
    aws.client(service)
print(json.dumps(rss() - before))
"""


def test_the_clients_of_a_walk_fit_their_budget(aws_endpoint: str) -> None:
    """In a fresh process, as in the wizard's: what making every client of a walk costs."""
    assert "ec2" in PREFETCHED_CLIENTS
    added = json.loads(run_python(MEASURE, aws_endpoint))
    assert added <= CLIENTS_MIB, f"the clients of a walk added {added:.1f} MiB"
