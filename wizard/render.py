"""The one Jinja2 environment of the project, over `templates/`, and the artifacts it renders."""

from __future__ import annotations

import functools
import json
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from wizard.errors import WizardError


def templates_dir() -> Path:
    """Where the templates are: inside the installed package, else the source tree."""
    packaged = Path(str(resources.files("wizard"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False)


@functools.cache
def jinja_env() -> jinja2.Environment:
    """The environment every artifact is rendered with: strict, no autoescape, shell-aware."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["shquote"] = lambda value: shlex.quote(str(value))
    env.filters["tojson"] = _tojson
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False}
    return env


def render_template(name: str, **context: Any) -> str:
    """Render one template, turning Jinja's errors into the project's own.

    Raises:
        WizardError: the template is missing or refers to a value that was not given.
    """
    try:
        return jinja_env().get_template(name).render(**context)
    except jinja2.TemplateError as error:
        raise WizardError(
            f"Template {name} could not be rendered: {error}",
            title="Template error",
            hint="This is a bug in airflow-ecs-wizard; please report it with the config used.",
        ) from error
