"""AWS naming rules, each a check that returns what is wrong (or None) in words a user can act on.

The rules come from the AWS documentation of each resource; every message says what a valid
value looks like, so the config error can name the field and the fix in one line.
"""

from __future__ import annotations

import re

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_IPV4_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+", re.ASCII)

_VPC = re.compile(r"vpc-[0-9a-f]{8}(?:[0-9a-f]{9})?", re.ASCII)
_SUBNET = re.compile(r"subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?", re.ASCII)
_SECURITY_GROUP = re.compile(r"sg-[0-9a-f]{8}(?:[0-9a-f]{9})?", re.ASCII)

_PARTITION = r"aws(?:-cn|-us-gov|-iso|-iso-b|-iso-e|-iso-f|-eusc)?"
_ROLE_ARN = re.compile(
    rf"arn:{_PARTITION}:iam::(\d{{12}}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{{1,64}}", re.ASCII
)
_CERTIFICATE_ARN = re.compile(
    rf"arn:{_PARTITION}:acm:[a-z0-9-]+:\d{{12}}:certificate/[0-9a-f-]{{36}}", re.ASCII
)
_TARGET_GROUP_ARN = re.compile(
    rf"arn:{_PARTITION}:elasticloadbalancing:[a-z0-9-]+:\d{{12}}:"
    r"targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}",
    re.ASCII,
)
_REGION = re.compile(r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d", re.ASCII)
_ECS_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}", re.ASCII)
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}", re.ASCII)
_LAUNCH_NAME = re.compile(r"[a-z](?:[a-z0-9]|-(?!-)){0,30}[a-z0-9]", re.ASCII)
_RDS_ID = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,62}", re.ASCII)
_CACHE_ID = re.compile(r"[a-z](?:[a-z0-9]|-(?!-)){0,39}", re.ASCII)
_SSM_NAME = re.compile(r"[A-Za-z0-9_.\-/]{1,1011}", re.ASCII)
_ECR_REPOSITORY = re.compile(
    r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*", re.ASCII
)
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_INSTANCE_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9]+", re.ASCII)
_SQL_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}", re.ASCII)
_S3_PREFIX = re.compile(r"[A-Za-z0-9!_.'()-]+(?:/[A-Za-z0-9!_.'()-]+)*", re.ASCII)
_ABSOLUTE_PATH = re.compile(r"(?:/[A-Za-z0-9._-]+)+", re.ASCII)
_DNS_LABELS = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*", re.ASCII
)
_ACCOUNT_ID = re.compile(r"\d{12}", re.ASCII)
_PROFILE = re.compile(r"[A-Za-z0-9_.+@:/-]{1,128}", re.ASCII)
_ENGINE_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
_LABEL_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
_KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}", re.ASCII)
_EMAIL = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+",
    re.ASCII,
)
_NETLOC = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?", re.ASCII)
_URL_PATH = re.compile(r"(?:/[A-Za-z0-9._~%+-]*)*", re.ASCII)

MAX_TEXT = 1024
"""The longest string any config field takes (the longest AWS name used, an SSM name, is 1011)."""
MAX_COMMAND_TEXT = 4096
"""The longest single argument of a container command override."""


def bucket_problem(name: str) -> str | None:
    """S3 general purpose bucket naming rules."""
    if not _BUCKET.fullmatch(name):
        return (
            "must be 3-63 characters of lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit"
        )
    if ".." in name or ".-" in name or "-." in name:
        return "must not contain two adjacent periods or a period next to a hyphen"
    if _IPV4_LIKE.fullmatch(name):
        return "must not be formatted as an IP address"
    if name.startswith(_BUCKET_RESERVED_PREFIXES) or name.endswith(_BUCKET_RESERVED_SUFFIXES):
        return "uses a prefix or suffix that S3 reserves (xn--, sthree-, -s3alias, --ol-s3, ...)"
    return None


def _shape(pattern: re.Pattern[str], value: str, what: str) -> str | None:
    return None if pattern.fullmatch(value) else what


def vpc_problem(value: str) -> str | None:
    """A VPC id: `vpc-` and 8 or 17 hex digits."""
    return _shape(_VPC, value, "must look like vpc-0a1b2c3d4e5f60718 (vpc- and 8 or 17 hex digits)")


def subnet_problem(value: str) -> str | None:
    """A subnet id: `subnet-` and 8 or 17 hex digits."""
    return _shape(_SUBNET, value, "must look like subnet-0aa11bb22cc33dd44")


def security_group_problem(value: str) -> str | None:
    """A security group id: `sg-` and 8 or 17 hex digits."""
    return _shape(_SECURITY_GROUP, value, "must look like sg-0123456789abcdef0")


def role_arn_account(value: str) -> str | None:
    """The account id in an IAM role ARN, or None when it is not one."""
    match = _ROLE_ARN.fullmatch(value)
    return match.group(1) if match else None


def role_arn_problem(value: str) -> str | None:
    """An IAM role ARN."""
    return _shape(
        _ROLE_ARN, value, "must be an IAM role ARN like arn:aws:iam::123456789012:role/NAME"
    )


def certificate_arn_problem(value: str) -> str | None:
    """An ACM certificate ARN."""
    return _shape(
        _CERTIFICATE_ARN,
        value,
        "must be an ACM certificate ARN like arn:aws:acm:us-east-1:123456789012:certificate/<uuid>",
    )


def target_group_arn_problem(value: str) -> str | None:
    """An ELBv2 target group ARN."""
    return _shape(
        _TARGET_GROUP_ARN,
        value,
        "must be a target group ARN like "
        "arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/0123456789abcdef",
    )


def region_problem(value: str) -> str | None:
    """An AWS region code."""
    return _shape(_REGION, value, "must be a region code like us-east-1 or eu-west-2")


def ecs_name_problem(value: str) -> str | None:
    """ECS cluster names and task-definition families."""
    return _shape(_ECS_NAME, value, "must be 1-255 letters, digits, hyphens and underscores")


def stack_name_problem(value: str) -> str | None:
    """CloudFormation stack names."""
    return _shape(
        _STACK_NAME,
        value,
        "must start with a letter and hold only letters, digits and hyphens (128 at most)",
    )


def launch_name_problem(value: str) -> str | None:
    """The launch name, from which resource names derive; kept short enough for all of them."""
    return _shape(
        _LAUNCH_NAME,
        value,
        "must be 2-32 lowercase letters, digits and single hyphens, starting with a letter "
        "(resource names such as the cluster and the cache derive from it)",
    )


def rds_instance_problem(value: str) -> str | None:
    """An RDS DB instance identifier."""
    if not _RDS_ID.fullmatch(value) or value.endswith("-"):
        return (
            "must be 1-63 letters, digits and single hyphens, starting with a letter "
            "and not ending with a hyphen"
        )
    return None


def replication_group_problem(value: str) -> str | None:
    """An ElastiCache replication group id."""
    if not _CACHE_ID.fullmatch(value) or value.endswith("-"):
        return (
            "must be 1-40 lowercase letters, digits and single hyphens, starting with a letter "
            "and not ending with a hyphen"
        )
    return None


def ssm_parameter_problem(value: str) -> str | None:
    """An SSM Parameter Store parameter name."""
    if not _SSM_NAME.fullmatch(value):
        return "may hold only letters, digits and . - _ / (1011 characters at most)"
    bare = value.lstrip("/").lower()
    if bare.startswith(("aws", "ssm")):
        return "must not begin with aws or ssm (reserved by Parameter Store)"
    if "/" in value and not value.startswith("/"):
        return "a name with a path must begin with / (for example /airflow/staging/fernet_key)"
    if value.count("/") > 15:
        return "has more than 15 levels of hierarchy"
    if value.endswith("/") or value.endswith("."):
        return "must not end with / or ."
    return None


def ecr_repository_problem(value: str) -> str | None:
    """An ECR repository name."""
    if not 2 <= len(value) <= 256 or not _ECR_REPOSITORY.fullmatch(value):
        return (
            "must be 2-256 lowercase letters, digits and . _ - / "
            "(each part starting and ending with a letter or digit)"
        )
    return None


def image_tag_problem(value: str) -> str | None:
    """A Docker image tag."""
    return _shape(
        _IMAGE_TAG, value, "must be 1-128 letters, digits, _ . -, not starting with . or -"
    )


def instance_type_problem(value: str, *, prefix: str = "") -> str | None:
    """An EC2, RDS (`db.`) or ElastiCache (`cache.`) instance type."""
    if not value.startswith(prefix) or not _INSTANCE_TYPE.fullmatch(value.removeprefix(prefix)):
        example = {"": "m6i.xlarge", "db.": "db.t4g.medium", "cache.": "cache.t4g.small"}[prefix]
        return f"must be an instance type like {example}"
    return None


def sql_identifier_problem(value: str) -> str | None:
    """A database or role name kept to plain lowercase identifiers (no quoting surprises)."""
    return _shape(
        _SQL_IDENTIFIER,
        value,
        "must be 1-63 lowercase letters, digits and underscores, not starting with a digit",
    )


def s3_prefix_problem(value: str) -> str | None:
    """A key prefix inside the bucket, without leading or trailing slashes."""
    return _shape(
        _S3_PREFIX,
        value,
        "must be key parts joined by / with no leading, trailing or double slash "
        "(letters, digits and ! _ . * ' ( ) -), e.g. airflow",
    )


def absolute_path_problem(value: str) -> str | None:
    """An absolute POSIX path without a trailing slash, `.` or `..` parts or shell
    metacharacters."""
    if not _ABSOLUTE_PATH.fullmatch(value):
        return (
            "must be an absolute path such as /mnt/airflow (letters, digits, . _ -; no trailing /)"
        )
    if any(part in {".", ".."} for part in value.split("/")):
        return "must not contain . or .. parts (name the folder itself, such as /mnt/airflow)"
    return None


def dns_name_problem(value: str) -> str | None:
    """A lowercase DNS name such as `airflow-api` or `api.airflow.internal`."""
    if len(value) > 253 or not _DNS_LABELS.fullmatch(value):
        return "must be a lowercase DNS name such as airflow-api or api.airflow.internal"
    return None


def cidr_problem(value: str) -> str | None:
    """An IPv4 or IPv6 CIDR block with no host bits set."""
    import ipaddress

    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        return f"must be a CIDR block such as 10.0.0.0/8 ({error})"
    if "/" not in value:
        return "must be a CIDR block with a prefix length, such as 10.0.0.0/8"
    return None


def text_problem(value: str, limit: int = MAX_TEXT) -> str | None:
    """What every string of the config obeys: a sane length, and no control or format
    characters (NUL, newline, carriage return, bidirectional overrides...), which would end a
    line or hide text in the scripts and files rendered from it."""
    import unicodedata

    if len(value) > limit:
        return f"is {len(value)} characters long: {limit} at most"
    for position, char in enumerate(value):
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Zl", "Zp"}:
            return (
                f"contains the control character U+{ord(char):04X} at position {position + 1}: "
                "remove it (no field takes line breaks, tabs or NUL)"
            )
    return None


def account_id_problem(value: str) -> str | None:
    """An AWS account id: 12 ASCII digits."""
    return _shape(_ACCOUNT_ID, value, "must be the 12-digit account id, or empty")


def host_problem(value: str) -> str | None:
    """A host: a DNS name (any case) or an IPv4 or IPv6 address."""
    import ipaddress

    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        pass
    else:  # a scope id (fe80::1%eth0) may hold any character: refused
        return None if "%" not in str(address) else "must be an IP address without a %scope"
    if len(value) > 253 or not _DNS_LABELS.fullmatch(value.lower()):
        return (
            "must be a DNS name such as mydb.abc123.us-east-1.rds.amazonaws.com or an IP "
            "address such as 127.0.0.1"
        )
    return None


def s3_uri_problem(value: str) -> str | None:
    """An `s3://BUCKET` or `s3://BUCKET/PREFIX` URI: a valid bucket and key parts, no wildcard or
    other policy metacharacter (the URI becomes an IAM policy's resource)."""
    bucket, _, prefix = value.removeprefix("s3://").partition("/")
    if (
        not value.startswith("s3://")
        or bucket_problem(bucket)
        or (prefix and s3_prefix_problem(prefix))
    ):
        return (
            "must be an s3://BUCKET/PREFIX URI: a valid bucket name, then key parts of letters, "
            "digits and ! _ . ' ( ) - joined by / (no * or ?, no double slash)"
        )
    return None


def url_problem(value: str) -> str | None:
    """An http(s) URL: a host (DNS name or IP address), an optional port and a plain path."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        _ = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        parts = None
    what = "must be an http:// or https:// URL such as http://localhost:5000 (host, port, path)"
    if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
        return what
    if parts.query or parts.fragment or parts.username or parts.password:
        return what + ", without a query, fragment or user"
    if host_problem(parts.hostname) or not _NETLOC.fullmatch(parts.netloc):
        return what
    if not _URL_PATH.fullmatch(parts.path):
        return what + "; the path holds letters, digits and . _ ~ % + - only"
    return None


def profile_problem(value: str) -> str | None:
    """A named profile of ~/.aws/config."""
    return _shape(
        _PROFILE, value, "must be a profile name: letters, digits and _ . + @ : / - (128 at most)"
    )


def engine_version_problem(value: str) -> str | None:
    """A database engine version such as 16.4 or 8.0.35."""
    return _shape(_ENGINE_VERSION, value, "must be an engine version such as 16.4 or 8.0.35")


def label_prefix_problem(value: str) -> str | None:
    """A prefix of Docker label values: letters, digits and . _ -."""
    return _shape(
        _LABEL_PREFIX,
        value,
        "must be 1-128 letters, digits and . _ -, starting with one of the first two",
    )


def kafka_topic_problem(value: str) -> str | None:
    """A Kafka topic name."""
    return _shape(_KAFKA_TOPIC, value, "must be a Kafka topic: 1-249 letters, digits and . _ -")


def email_problem(value: str) -> str | None:
    """An e-mail address."""
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        return "must be an e-mail address such as admin@example.com"
    return None


def pythonpath_problem(value: str) -> str | None:
    """A PYTHONPATH: absolute paths joined by `:`."""
    if any(absolute_path_problem(part) for part in value.split(":")):
        return "must be absolute paths joined by :, such as /opt/airflow/dags:/opt/airflow/lib"
    return None
