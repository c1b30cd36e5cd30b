"""`patch-template`: console-made ECS cluster templates get private instances and our bootstrap.

The fixtures in `tests/fixtures/console/` look like what the ECS console made: the old
"EC2ContainerService-<cluster>" stack (a launch configuration) and the new
"Infra-ECS-Cluster-<cluster>-<hash>" stack (a launch template), in JSON and in YAML with short tags,
plus variants a patcher meets in practice.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wizard.cfn_template import dump_template, load_template
from wizard.errors import BadInput
from wizard.patch_template import (
    PatchResult,
    patch_template,
    patch_template_text,
)
from wizard.user_data_patch import BLOCK_BEGIN, BLOCK_END

FIXTURES = Path(__file__).parent / "fixtures" / "console"
CLUSTER = "airflow-prod"
BOOTSTRAP_URI = "s3://airflow-artifacts/airflow/prod/bootstrap/bootstrap.sh"
NEW_BOOTSTRAP_URI = "s3://airflow-artifacts-v2/airflow/prod/bootstrap/bootstrap.sh"
PLACEHOLDER = "INTRINSIC"
BOOTSTRAP_FILE = "/usr/lib/docker-airflow/bootstrap/bootstrap.sh"

LC = "Resources.EcsInstanceLc.Properties"
LTD = "Resources.ECSLaunchTemplate.Properties.LaunchTemplateData"

LAUNCH_CONFIG_FIXTURES = [
    "ec2containerservice-launchconfig.json",
    "ec2containerservice-launchconfig.yaml",
]
LAUNCH_TEMPLATE_FIXTURES = [
    "infra-ecs-cluster-launchtemplate.json",
    "infra-ecs-cluster-launchtemplate.yaml",
]
VARIANT_FIXTURES = [
    "ec2containerservice-launchconfig-if.yaml",
    "infra-ecs-cluster-launchtemplate-network-interfaces.json",
    "infra-ecs-cluster-launchtemplate-plain-userdata.yaml",
]
ALL_FIXTURES = LAUNCH_CONFIG_FIXTURES + LAUNCH_TEMPLATE_FIXTURES + VARIANT_FIXTURES

# What each fixture's patch may touch; every other leaf must stay as it was.
INTENDED_PATHS = {
    "ec2containerservice-launchconfig.json": [
        f"{LC}.AssociatePublicIpAddress",
        f"{LC}.UserData",
    ],
    "ec2containerservice-launchconfig.yaml": [
        f"{LC}.AssociatePublicIpAddress",
        f"{LC}.UserData",
    ],
    "ec2containerservice-launchconfig-if.yaml": [
        f"{LC}.AssociatePublicIpAddress",
        f"{LC}.UserData",
    ],
    "infra-ecs-cluster-launchtemplate.json": [
        f"{LTD}.NetworkInterfaces",
        f"{LTD}.SecurityGroupIds",
        f"{LTD}.UserData",
    ],
    "infra-ecs-cluster-launchtemplate.yaml": [
        f"{LTD}.NetworkInterfaces",
        f"{LTD}.SecurityGroupIds",
        f"{LTD}.UserData",
    ],
    "infra-ecs-cluster-launchtemplate-network-interfaces.json": [
        f"{LTD}.NetworkInterfaces",
        f"{LTD}.UserData",
    ],
    "infra-ecs-cluster-launchtemplate-plain-userdata.yaml": [
        f"{LTD}.NetworkInterfaces",
        f"{LTD}.SecurityGroupIds",
        f"{LTD}.UserData",
    ],
}


# --- helpers -------------------------------------------------------------------------------------


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def patch_fixture(name: str, *, bootstrap_uri: str = BOOTSTRAP_URI) -> PatchResult:
    return patch_template_text(
        fixture_text(name), cluster_name=CLUSTER, bootstrap_uri=bootstrap_uri, source_name=name
    )


def at(doc: Any, path: str) -> Any:
    for key in path.split("."):
        doc = doc[key]
    return doc


def script(value: Any) -> str:
    """The shell script a UserData value gives, intrinsics shown as a placeholder word."""
    if isinstance(value, str):
        return value
    ((function, argument),) = value.items()
    if function == "Fn::Base64":
        return script(argument)
    if function == "Fn::Sub":
        text = argument if isinstance(argument, str) else argument[0]
        text = re.sub(r"\$\{(?!!)[^}]*\}", PLACEHOLDER, text)
        return text.replace("${!", "${")
    if function == "Fn::Join":
        delimiter, parts = argument
        return delimiter.join(part if isinstance(part, str) else PLACEHOLDER for part in parts)
    return PLACEHOLDER


def scripts(user_data: Any) -> list[str]:
    """Every script a UserData value can give: one per branch of an Fn::If."""
    if isinstance(user_data, dict) and "Fn::If" in user_data:
        _, when_true, when_false = user_data["Fn::If"]
        return scripts(when_true) + scripts(when_false)
    return [script(user_data)]


def user_data_of(doc: dict[str, Any]) -> Any:
    resources = doc["Resources"]
    if "EcsInstanceLc" in resources:
        return resources["EcsInstanceLc"]["Properties"]["UserData"]
    return resources["ECSLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, leaf value) of a document; empty containers count as leaves."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from leaves(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value:
        for index, child in enumerate(value):
            yield from leaves(child, f"{path}[{index}]")
    else:
        yield path, value


def under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in prefixes)


def ecs_cluster_writers(text: str) -> list[str]:
    """Lines of a script that put ECS_CLUSTER into the agent's config."""
    lines = text.splitlines()
    heredoc = [line for line in lines if line.startswith("ECS_CLUSTER=")]
    echoes = [line for line in lines if re.search(r"echo\s+'?ECS_CLUSTER=", line)]
    return heredoc + echoes


# --- the patch on the console's templates ---------------------------------------------------------


@pytest.mark.parametrize(
    "name", [*LAUNCH_CONFIG_FIXTURES, "ec2containerservice-launchconfig-if.yaml"]
)
def test_launch_configuration_instances_get_no_public_ip(name: str) -> None:
    original = load_template(fixture_text(name)).doc
    assert at(original, f"{LC}.AssociatePublicIpAddress") is True

    patched = load_template(patch_fixture(name).text).doc

    assert at(patched, f"{LC}.AssociatePublicIpAddress") is False


@pytest.mark.parametrize("name", LAUNCH_TEMPLATE_FIXTURES)
def test_launch_template_security_groups_move_onto_a_private_interface(name: str) -> None:
    patched = load_template(patch_fixture(name).text).doc
    data = at(patched, LTD)

    assert "SecurityGroupIds" not in data
    assert data["NetworkInterfaces"] == [
        {"DeviceIndex": 0, "AssociatePublicIpAddress": False, "Groups": {"Ref": "SecurityGroupIds"}}
    ]


def test_existing_network_interface_is_made_private_and_keeps_its_groups() -> None:
    name = "infra-ecs-cluster-launchtemplate-network-interfaces.json"
    patched = load_template(patch_fixture(name).text).doc

    assert at(patched, LTD)["NetworkInterfaces"] == [
        {
            "DeviceIndex": 0,
            "AssociatePublicIpAddress": False,
            "DeleteOnTermination": True,
            "Groups": {"Ref": "SecurityGroupIds"},
        }
    ]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_user_data_writes_the_cluster_once_then_copies_and_runs_the_bootstrap(name: str) -> None:
    patched = load_template(patch_fixture(name).text).doc

    for text in scripts(user_data_of(patched)):
        assert len(ecs_cluster_writers(text)) == 1, text
        lines = text.splitlines()
        assert f"aws s3 cp {BOOTSTRAP_URI} {BOOTSTRAP_FILE}" in lines
        assert f"bash {BOOTSTRAP_FILE}" in lines
        assert lines.count(BLOCK_BEGIN) == 1
        assert lines[-1] == BLOCK_END, "the bootstrap lines come last"
        assert lines.index(BLOCK_BEGIN) > 0, "the block starts on a line of its own"


def test_console_user_data_keeps_its_own_cluster_and_backend_lines() -> None:
    patched = load_template(patch_fixture("ec2containerservice-launchconfig.json").text).doc
    text = script(user_data_of(patched))

    assert text.startswith(
        f"#!/bin/bash\necho ECS_CLUSTER={PLACEHOLDER} >> /etc/ecs/ecs.config;"
        f"echo ECS_BACKEND_HOST={PLACEHOLDER} >> /etc/ecs/ecs.config;\n{BLOCK_BEGIN}\n"
    )
    assert text.count("ECS_BACKEND_HOST=") == 1
    assert CLUSTER not in text, "the template's own ECS_CLUSTER line is kept, not a second one"


def test_new_console_user_data_gets_the_backend_line_the_runbook_adds() -> None:
    patched = load_template(patch_fixture("infra-ecs-cluster-launchtemplate.json").text).doc
    lines = script(user_data_of(patched)).splitlines()

    writers = [line for line in lines if line.startswith("echo") and "ECS_BACKEND_HOST=" in line]
    assert writers == ["echo 'ECS_BACKEND_HOST=' >> /etc/ecs/ecs.config"]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_nothing_but_the_intended_paths_changes(name: str) -> None:
    result = patch_fixture(name)
    original = dict(leaves(load_template(fixture_text(name)).doc))
    patched = dict(leaves(load_template(result.text).doc))
    intended = INTENDED_PATHS[name]

    assert sorted(result.changed_paths) == sorted(intended)
    for path in original.keys() | patched.keys():
        if not under(path, intended):
            assert original.get(path, "<absent>") == patched.get(path, "<absent>"), path
    assert any(original.get(p) != patched.get(p) for p in original.keys() | patched.keys())


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_patching_a_patched_template_changes_nothing(name: str) -> None:
    first = patch_fixture(name)
    second = patch_template_text(
        first.text, cluster_name=CLUSTER, bootstrap_uri=BOOTSTRAP_URI, source_name=name
    )

    assert first.changed is True
    assert second.changed is False
    assert second.diff == ""
    assert second.changed_paths == []
    assert second.text == first.text


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_a_new_bootstrap_uri_replaces_the_block(name: str) -> None:
    first = patch_fixture(name)
    second = patch_template_text(
        first.text, cluster_name=CLUSTER, bootstrap_uri=NEW_BOOTSTRAP_URI, source_name=name
    )

    assert second.changed is True
    diff_lines = second.diff.splitlines()
    assert any(line.startswith("+") and NEW_BOOTSTRAP_URI in line for line in diff_lines)
    assert any(line.startswith("-") and BOOTSTRAP_URI in line for line in diff_lines)
    for text in scripts(user_data_of(load_template(second.text).doc)):
        assert text.count(BLOCK_BEGIN) == 1
        assert f"aws s3 cp {NEW_BOOTSTRAP_URI} {BOOTSTRAP_FILE}" in text.splitlines()
        assert BOOTSTRAP_URI not in text


def test_diff_is_a_unified_diff_named_after_the_source() -> None:
    result = patch_fixture("ec2containerservice-launchconfig.json")

    assert result.fmt == "json"
    assert result.diff.startswith(
        "--- a/ec2containerservice-launchconfig.json\n+++ b/ec2containerservice-launchconfig.json\n"
    )
    assert '-        "AssociatePublicIpAddress": true,\n' in result.diff
    assert '+        "AssociatePublicIpAddress": false,\n' in result.diff


def test_json_output_keeps_the_input_indentation_and_key_order() -> None:
    name = "infra-ecs-cluster-launchtemplate-network-interfaces.json"
    result = patch_fixture(name)

    assert result.text.startswith('{\n    "AWSTemplateFormatVersion": "2010-09-09",\n')
    assert result.text.endswith("}\n")
    original_keys = list(json.loads(fixture_text(name))["Resources"])
    assert list(json.loads(result.text)["Resources"]) == original_keys


@pytest.mark.parametrize(("indent", "expected"), [("  ", 2), ("    ", 4), ("\t", "\t"), (None, 2)])
def test_json_indentation_and_non_ascii_text_are_kept(indent: str | None, expected: Any) -> None:
    doc = {"Description": "Clúster für Airflow", "Resources": {"A": {"Type": "AWS::SNS::Topic"}}}
    text = json.dumps(doc, indent=indent, ensure_ascii=False)

    loaded = load_template(text)

    assert loaded.json_indent == expected
    assert loaded.dump() == json.dumps(doc, indent=expected, ensure_ascii=False) + "\n"


def test_patch_template_does_not_modify_its_input() -> None:
    doc = load_template(fixture_text("infra-ecs-cluster-launchtemplate.json")).doc
    before = copy.deepcopy(doc)

    patched, paths = patch_template(doc, cluster_name=CLUSTER, bootstrap_uri=BOOTSTRAP_URI)

    assert doc == before
    assert patched != doc
    assert f"{LTD}.UserData" in paths


# --- user data shapes --------------------------------------------------------------------------


def launch_template(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "ECSLaunchTemplate": {
                "Type": "AWS::EC2::LaunchTemplate",
                "Properties": {"LaunchTemplateData": data},
            }
        },
    }


def patched_data(data: dict[str, Any], **kwargs: str) -> dict[str, Any]:
    arguments = {"cluster_name": CLUSTER, "bootstrap_uri": BOOTSTRAP_URI, **kwargs}
    patched, _ = patch_template(launch_template(data), **arguments)
    return dict(at(patched, LTD))


def test_missing_user_data_is_created_and_writes_the_cluster_name() -> None:
    data = patched_data({"ImageId": "ami-0123456789abcdef0"})
    user_data = data["UserData"]

    assert list(user_data) == ["Fn::Base64"]
    text = user_data["Fn::Base64"]
    assert text.startswith(f"#!/bin/bash\n{BLOCK_BEGIN}\n")
    assert f"echo ECS_CLUSTER={CLUSTER} >> /etc/ecs/ecs.config" in text.splitlines()
    assert data["NetworkInterfaces"] == [{"DeviceIndex": 0, "AssociatePublicIpAddress": False}]


def test_a_new_cluster_name_replaces_the_line_we_wrote() -> None:
    first = patched_data({})
    second = patched_data(first, cluster_name="airflow-staging")
    text = second["UserData"]["Fn::Base64"]

    assert ecs_cluster_writers(text) == ["echo ECS_CLUSTER=airflow-staging >> /etc/ecs/ecs.config"]


def test_join_with_newline_delimiter_gets_one_element_per_line() -> None:
    lines = ["#!/bin/bash", "echo ECS_CLUSTER=", {"Ref": "ClusterName"}]
    user_data = {"Fn::Base64": {"Fn::Join": ["\n", lines]}}

    once = patched_data({"UserData": user_data})
    twice = patched_data(once)
    parts = once["UserData"]["Fn::Base64"]["Fn::Join"][1]

    assert parts[:3] == lines
    assert parts[3] == BLOCK_BEGIN
    assert parts[-1] == BLOCK_END
    assert all("\n" not in part for part in parts[3:])
    assert twice == once


def test_sub_string_form_escapes_dollar_braces_in_the_block() -> None:
    uri = "s3://airflow-artifacts/${env}/bootstrap.sh"
    user_data = {"Fn::Base64": {"Fn::Sub": "#!/bin/bash\necho ECS_CLUSTER=${Name} >> f\n"}}

    data = patched_data({"UserData": user_data}, bootstrap_uri=uri)
    text = data["UserData"]["Fn::Base64"]["Fn::Sub"]

    assert "aws s3 cp 's3://airflow-artifacts/${!env}/bootstrap.sh'" in text
    assert "${Name}" in text, "the template's own substitutions stay"
    assert patched_data(data, bootstrap_uri=uri) == data


def test_base64_string_user_data_is_decoded_and_patched() -> None:
    encoded = "IyEvYmluL2Jhc2gKZWNobyBFQ1NfQ0xVU1RFUj1haXJmbG93ID4+IC9ldGMvZWNzL2Vjcy5jb25maWcK"

    data = patched_data({"UserData": encoded})
    text = data["UserData"]["Fn::Base64"]

    assert text.startswith("#!/bin/bash\necho ECS_CLUSTER=airflow >> /etc/ecs/ecs.config\n")
    assert len(ecs_cluster_writers(text)) == 1


def test_template_level_security_group_ids_move_onto_device_zero() -> None:
    data = patched_data(
        {
            "SecurityGroupIds": ["sg-0a1b2c3d4e5f60718"],
            "NetworkInterfaces": [
                {"DeviceIndex": 1, "SubnetId": "subnet-0123456789abcdef0"},
                {"DeviceIndex": 0, "AssociatePublicIpAddress": True},
            ],
        }
    )

    assert "SecurityGroupIds" not in data
    assert data["NetworkInterfaces"] == [
        {
            "DeviceIndex": 1,
            "SubnetId": "subnet-0123456789abcdef0",
            "AssociatePublicIpAddress": False,
        },
        {"DeviceIndex": 0, "AssociatePublicIpAddress": False, "Groups": ["sg-0a1b2c3d4e5f60718"]},
    ]


def test_a_false_the_template_spells_as_a_string_is_kept() -> None:
    data = patched_data(
        {"NetworkInterfaces": [{"DeviceIndex": "0", "AssociatePublicIpAddress": "false"}]}
    )

    assert data["NetworkInterfaces"] == [{"DeviceIndex": "0", "AssociatePublicIpAddress": "false"}]


# --- YAML ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_name", "json_name"),
    [
        ("ec2containerservice-launchconfig.yaml", "ec2containerservice-launchconfig.json"),
        ("infra-ecs-cluster-launchtemplate.yaml", "infra-ecs-cluster-launchtemplate.json"),
    ],
)
def test_yaml_short_tags_load_as_the_long_json_form(yaml_name: str, json_name: str) -> None:
    loaded = load_template(fixture_text(yaml_name))

    assert loaded.fmt == "yaml"
    assert loaded.doc == json.loads(fixture_text(json_name))
    assert loaded.doc["AWSTemplateFormatVersion"] == "2010-09-09"


def test_yaml_dump_writes_short_tags_and_loads_back_equal() -> None:
    loaded = load_template(fixture_text("infra-ecs-cluster-launchtemplate.yaml"))
    text = loaded.dump()

    assert text.startswith("AWSTemplateFormatVersion: '2010-09-09'\n")
    assert "Version: !GetAtt ECSLaunchTemplate.LatestVersionNumber\n" in text
    assert "LaunchTemplateId: !Ref ECSLaunchTemplate\n" in text
    assert "UserData: !Base64\n" in text
    assert "Ref:" not in text and "Fn::GetAtt" not in text
    assert load_template(text).doc == loaded.doc


def test_patched_yaml_stays_yaml_with_a_string_version() -> None:
    result = patch_fixture("ec2containerservice-launchconfig.yaml")

    assert result.fmt == "yaml"
    assert result.text.startswith("AWSTemplateFormatVersion: '2010-09-09'\n")
    assert "      AssociatePublicIpAddress: false\n" in result.text
    assert load_template(result.text).doc["AWSTemplateFormatVersion"] == "2010-09-09"


def test_multiline_strings_are_written_as_literal_blocks() -> None:
    result = patch_fixture("infra-ecs-cluster-launchtemplate-plain-userdata.yaml")

    assert "        UserData: !Base64 |\n          #!/bin/bash\n" in result.text
    assert f"          {BLOCK_BEGIN}\n" in result.text


def test_getatt_with_a_dotted_resource_name_keeps_the_list_form() -> None:
    doc = {"Resources": {"A": {"Value": {"Fn::GetAtt": ["Nested.Stack", "Outputs.Url"]}}}}
    text = dump_template(doc, "yaml")

    assert "!GetAtt\n" in text
    assert load_template(text).doc == doc


_KEYS = st.text(max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)


def _intrinsics(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    text = st.text(max_size=20)
    return st.one_of(
        st.builds(lambda v: {"Ref": v}, text),
        st.builds(lambda v: {"Condition": v}, text),
        st.builds(lambda a, b: {"Fn::GetAtt": [a, b]}, text, text),
        st.builds(lambda s: {"Fn::Sub": s}, text),
        st.builds(
            lambda s, m: {"Fn::Sub": [s, m]}, text, st.dictionaries(_KEYS, children, max_size=3)
        ),
        st.builds(lambda d, xs: {"Fn::Join": [d, xs]}, text, st.lists(children, max_size=4)),
        st.builds(lambda c, a, b: {"Fn::If": [c, a, b]}, text, children, children),
        st.builds(lambda x: {"Fn::Base64": x}, children),
        st.builds(
            lambda name, x: {f"Fn::{name}": x},
            st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True),
            children,
        ),
    )


_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_KEYS, children, max_size=4)
        | _intrinsics(children)
    ),
    max_leaves=30,
)
_DOCUMENTS = st.fixed_dictionaries(
    {
        "AWSTemplateFormatVersion": st.just("2010-09-09"),
        "Resources": st.dictionaries(st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True), _VALUES),
    }
)


@settings(max_examples=300, deadline=None)
@given(_DOCUMENTS)
def test_yaml_dump_loads_back_equal(doc: dict[str, Any]) -> None:
    text = dump_template(doc, "yaml")

    assert load_template(text).doc == doc
    assert dump_template(load_template(text).doc, "yaml") == text


# --- bad input -----------------------------------------------------------------------------------


def bad_input(text: str, **kwargs: str) -> BadInput:
    arguments = {"cluster_name": CLUSTER, "bootstrap_uri": BOOTSTRAP_URI, **kwargs}
    with pytest.raises(BadInput) as caught:
        patch_template_text(text, source_name="cluster.template", **arguments)
    assert caught.value.exit_code == 2
    return caught.value


def test_invalid_json_says_where() -> None:
    error = bad_input('{\n  "Resources": {\n    "A": 1,\n  }\n}\n')

    assert error.message.startswith("cluster.template is not valid JSON: ")
    assert "(line 4, column 3)" in error.message


def test_invalid_yaml_says_where() -> None:
    error = bad_input("Resources:\n  A: [unclosed\n")

    assert error.message.startswith("cluster.template is neither JSON nor YAML: ")
    assert "line 3" in error.message


def test_a_list_is_not_a_template() -> None:
    error = bad_input("[1, 2]")

    assert error.message == (
        "cluster.template is not a CloudFormation template: its top level is a list, not a mapping."
    )


def test_empty_text_is_not_a_template() -> None:
    error = bad_input("")

    assert "its top level is empty" in error.message


def test_a_template_without_resources_is_refused() -> None:
    error = bad_input("AWSTemplateFormatVersion: '2010-09-09'\nParameters: {}\n")

    assert (
        error.message == "cluster.template is not a CloudFormation template: it has no Resources."
    )


def test_a_template_without_instances_is_refused() -> None:
    text = json.dumps({"Resources": {"ECSCluster": {"Type": "AWS::ECS::Cluster"}}})

    error = bad_input(text)

    assert error.message == (
        "no AWS::AutoScaling::LaunchConfiguration or AWS::EC2::LaunchTemplate in Resources: "
        "is this the console's ECS cluster stack?"
    )


def test_security_groups_by_name_on_a_launch_template_are_refused() -> None:
    text = json.dumps(launch_template({"SecurityGroups": ["airflow-instances"]}))

    error = bad_input(text)

    assert "names its security groups (SecurityGroups)" in error.message
    assert "SecurityGroupIds" in error.hint


def test_a_bootstrap_folder_is_refused() -> None:
    error = bad_input(
        fixture_text("infra-ecs-cluster-launchtemplate.json"),
        bootstrap_uri="s3://airflow-artifacts/airflow/prod/bootstrap/",
    )

    assert "is not the S3 URI of a file" in error.message
    assert "bootstrap.sh" in error.hint


def test_an_unknown_user_data_shape_is_refused() -> None:
    user_data = {"Fn::Base64": {"Fn::Join": [",", ["a", "b"]]}}

    error = bad_input(json.dumps(launch_template({"UserData": user_data})))

    assert error.message.startswith(f"{LTD}.UserData is built with Fn::Join")


def test_a_half_block_is_refused() -> None:
    user_data = {"Fn::Base64": f"#!/bin/bash\n{BLOCK_BEGIN}\necho half\n"}

    error = bad_input(json.dumps(launch_template({"UserData": user_data})))

    assert "marker without its pair" in error.message


# --- the patched scripts and templates pass the linters -------------------------------------------

SCRIPT_CASES = [
    "ec2containerservice-launchconfig.json",  # Fn::Join ""
    "ec2containerservice-launchconfig-if.yaml",  # Fn::If over Fn::Sub strings
    "infra-ecs-cluster-launchtemplate.json",  # Fn::Sub [string, variables]
    "infra-ecs-cluster-launchtemplate-plain-userdata.yaml",  # a plain string
]


def patched_scripts(name: str) -> list[str]:
    return scripts(user_data_of(load_template(patch_fixture(name).text).doc))


@pytest.mark.parametrize("name", SCRIPT_CASES)
def test_patched_user_data_is_valid_bash(name: str, tmp_path: Path) -> None:
    for index, text in enumerate(patched_scripts(name)):
        path = tmp_path / f"user-data-{index}.sh"
        path.write_text(text)
        checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("name", SCRIPT_CASES)
def test_patched_user_data_passes_shellcheck(name: str, tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip(
            "shellcheck is not on PATH: install it (apt-get install shellcheck) to run this"
        )
    for index, text in enumerate(patched_scripts(name)):
        path = tmp_path / f"user-data-{index}.sh"
        path.write_text(text)
        checked = subprocess.run(
            [shellcheck, "-s", "bash", str(path)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout


def cfn_lint_rule_ids(text: str) -> set[str]:
    from cfnlint.api import lint

    return {match.rule.id for match in lint(text)}


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_patch_adds_no_cfn_lint_findings(name: str) -> None:
    before = cfn_lint_rule_ids(fixture_text(name))
    after = cfn_lint_rule_ids(patch_fixture(name).text)

    assert after - before == set()
