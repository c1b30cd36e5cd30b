"""airflow-ecs-wizard: the core. Nothing here imports a UI."""

__version__ = "0.1.0"
