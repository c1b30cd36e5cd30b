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
command -v aws >/dev/null 2>&1 || yum install -y awscli
mkdir -p /usr/lib/docker-airflow/bootstrap/
aws s3 cp s3://acme-dataplatform-airflow/airflow/staging/bootstrap/bootstrap.sh /usr/lib/docker-airflow/bootstrap/bootstrap.sh
bash /usr/lib/docker-airflow/bootstrap/bootstrap.sh
# airflow-ecs-wizard: end
