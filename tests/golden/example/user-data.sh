#!/bin/bash
# User data of the ECS instances of airflow-staging: join cluster airflow-staging,
# then fetch and run the bootstrap that mounts the environment's S3 folder.
set -euxo pipefail
# airflow-ecs-wizard: begin
mkdir -p /etc/ecs
touch /etc/ecs/ecs.config
sed -i '/^ECS_CLUSTER=/d' /etc/ecs/ecs.config
echo ECS_CLUSTER=airflow-staging >> /etc/ecs/ecs.config
sed -i '/^ECS_BACKEND_HOST=/d' /etc/ecs/ecs.config
echo 'ECS_BACKEND_HOST=' >> /etc/ecs/ecs.config
# The ECS agent starts only once the bootstrap has mounted the DAG folders (its --check fails
# while the copy, the mount or the instance's address is missing; the unit retries).
mkdir -p /etc/systemd/system/ecs.service.d
printf '%s\n' '[Service]' 'ExecStartPre=/bin/bash /usr/lib/docker-airflow/bootstrap/bootstrap.sh --check' > /etc/systemd/system/ecs.service.d/airflow-ecs-wizard.conf
systemctl daemon-reload
command -v aws >/dev/null 2>&1 || yum install -y awscli
mkdir -p /usr/lib/docker-airflow/bootstrap/
aws s3 cp s3://acme-dataplatform-airflow/airflow/staging/bootstrap/bootstrap.sh /usr/lib/docker-airflow/bootstrap/bootstrap.sh
bash /usr/lib/docker-airflow/bootstrap/bootstrap.sh
# airflow-ecs-wizard: end
