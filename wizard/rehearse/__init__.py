"""`airflow-ecs-wizard rehearse`: boot a launch's own task definitions on this machine, as ECS
would run them, and prove that the Airflow they describe works (see `run.Rehearsal`)."""
