"""botocore's service models as the wizard's clients use them: without their prose.

botocore keeps every service model a client needs as parsed JSON for the life of its session,
reference documentation included, in OrderedDicts: EC2's model alone holds ~24 MiB in a process,
most of it the text of `help(client.describe_vpcs)`. No call reads that text (it only feeds
botocore's docstrings), and a long TUI walk makes clients of a dozen services, so the wizard's
sessions load their models with every `documentation` string emptied, as plain dicts (ordered,
as every dict is): what the clients validate, serialise and parse is unchanged.

The key stays, with "" as its value: botocore reads some of it with `[...]` (a service's
client context parameters), and a member of a structure may itself be named `documentation`
(its value is then a dict, and kept).
"""

from __future__ import annotations

import gzip
import json
import os
from typing import Any

from botocore.loaders import JSONFileLoader, create_loader
from botocore.session import Session, get_session

OPENERS: tuple[tuple[str, Any], ...] = ((".json", open), (".json.gz", gzip.open))
"""A model's file names, in botocore's order of preference (a plain file shadows a gzipped one)."""


def _without_prose(node: dict[str, Any]) -> dict[str, Any]:
    if isinstance(node.get("documentation"), str):
        node["documentation"] = ""
    return node


class LeanJSONFileLoader(JSONFileLoader):  # type: ignore[misc]  # botocore is untyped
    """botocore's JSON loader, minus the documentation strings and the OrderedDicts."""

    def load_file(self, file_path: str) -> dict[str, Any] | None:
        """The data in `file_path` + ".json" (or ".json.gz"); None when neither exists."""
        for suffix, opener in OPENERS:
            path = file_path + suffix
            if os.path.isfile(path):
                with opener(path, "rb") as stream:
                    data: dict[str, Any] = json.loads(stream.read(), object_hook=_without_prose)
                    return data
        return None


def lean_session() -> Session:
    """A new botocore session whose models load without their prose (a boto3.Session is made
    on it with `botocore_session=`). Its loader is its own, as botocore's default is: the
    models go when the session does."""
    session = get_session()
    loader = create_loader(session.get_config_variable("data_path"))
    loader.file_loader = LeanJSONFileLoader()
    session.register_component("data_loader", loader)
    return session
