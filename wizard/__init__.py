"""airflow-ecs-wizard: the core. Nothing here imports a UI."""

__version__ = "0.1.0"

import os as _os

# The wizard uses no pydantic plugins; looking for them scans every installed distribution's
# entry points, a large share of `render`'s start-up.
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
