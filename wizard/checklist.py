"""The runbook's checklist: each step's name and title, in the runbook's order.

Plain data, importable without loading the steps (and pydantic, botocore and Jinja2 with them):
the wizard's start screen shows it before anything else is imported.
"""

from __future__ import annotations

CHECKLIST: dict[str, str] = {
    "account": "AWS account",
    "network": "VPC, subnets and security groups",
    "iam": "Task execution and task roles",
    "s3_layout": "S3 bucket and folder layout",
    "bootstrap": "Instance bootstrap (S3 mount)",
    "database": "Airflow database in RDS",
    "redis": "ElastiCache broker",
    "image": "ECR image",
    "secrets": "Fernet key and shared secrets",
    "cluster": "ECS cluster",
    "task_definitions": "Task definitions",
    "services": "Services and load balancer",
}
"""Every step's title by name; `wizard.steps.STEPS` has the same names in the same order."""
