#!/bin/bash
# Bootstrap for the ECS instances of airflow-staging: mount s3://acme-dataplatform-airflow/airflow/staging/
# read-only at /mnt/airflow, where the task definitions find dags/ and plugins/.
# Written by airflow-ecs-wizard; safe to run again (one fstab line, mount only if needed).
# Also leaves the instance's private IP in /usr/lib/docker-airflow/host for the workers' hostname.
# `bootstrap.sh --check` succeeds only while the mount is there: ecs.service runs it before the
# ECS agent starts, so an instance whose mount failed never joins the cluster.
set -euo pipefail

FSTAB="${FSTAB:-/etc/fstab}"
HOST_DIR="${HOST_DIR:-/usr/lib/docker-airflow/host}"
IMDS="${IMDS:-http://169.254.169.254}"
MOUNT_POINT=/mnt/airflow
MOUNT_SOURCE=s3://acme-dataplatform-airflow/airflow/staging/
FSTAB_LINE="${MOUNT_SOURCE} ${MOUNT_POINT} mount-s3 _netdev,nosuid,nodev,nofail,ro,allow-other 0 0"

log() {
    echo "airflow-ecs-wizard bootstrap: $*" >&2
}

install_mount_tool() {
    if command -v mount-s3 >/dev/null 2>&1; then
        return
    fi
    # The repositories have mount-s3 from AL2023 2023.9.20251110 on; older AMIs get the RPM.
    if dnf install -y mount-s3; then
        return
    fi
    log "mount-s3 is not in this AMI's repositories: installing Mountpoint's RPM"
    local arch
    case "$(uname -m)" in
        aarch64) arch=arm64 ;;
        *) arch=x86_64 ;;
    esac
    dnf install -y "https://s3.amazonaws.com/mountpoint-s3-release/latest/${arch}/mount-s3.rpm"
}

add_fstab_line() {
    # Keep every other line, drop any earlier entry for this mount point, add ours once.
    local current
    current="$(awk -v mount_point="${MOUNT_POINT}" '$2 != mount_point' "${FSTAB}")"
    if [ -n "${current}" ]; then
        printf '%s\n' "${current}" >"${FSTAB}.airflow-ecs-wizard"
    else
        : >"${FSTAB}.airflow-ecs-wizard"
    fi
    printf '%s\n' "${FSTAB_LINE}" >>"${FSTAB}.airflow-ecs-wizard"
    mv "${FSTAB}.airflow-ecs-wizard" "${FSTAB}"
}

write_host_module() {
    # Read on the host, where IMDSv2 answers: its hop limit of 1 keeps the answer from
    # containers in bridge mode.
    local token address
    token="$(curl --fail --silent --show-error -X PUT \
        -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "${IMDS}/latest/api/token")"
    address="$(curl --fail --silent --show-error \
        -H "X-aws-ec2-metadata-token: ${token}" "${IMDS}/latest/meta-data/local-ipv4")"
    if ! [[ "${address}" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
        log "the instance metadata gave no private IPv4 address: ${address}"
        return 1
    fi
    mkdir -p "${HOST_DIR}"
    printf '%s\n' "${address}" >"${HOST_DIR}/private-ip"
    cat >"${HOST_DIR}/airflow_ecs_host.py" <<'PYTHON'
"""Written by the airflow-ecs-wizard bootstrap: the private IP address of this ECS instance.

The workers' [core] hostname_callable: the web server fetches a running task's log from
http://HOSTNAME:PORT, and in bridge mode a container's own hostname is a container id.
"""
import os


def private_ip():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "private-ip")) as handle:
        return handle.read().strip()
PYTHON
}

check() {
    if ! mountpoint -q "${MOUNT_POINT}"; then
        log "${MOUNT_SOURCE} is not mounted at ${MOUNT_POINT}: the ECS agent does not start"
        return 1
    fi
    if ! [ -s "${HOST_DIR}/private-ip" ]; then
        log "${HOST_DIR}/private-ip is missing: the ECS agent does not start"
        return 1
    fi
}

main() {
    if [ "${1:-}" = "--check" ]; then
        check
        return
    fi
    write_host_module
    install_mount_tool
    mkdir -p "${MOUNT_POINT}"
    add_fstab_line
    if ! mountpoint -q "${MOUNT_POINT}"; then
        mount "${MOUNT_POINT}"
    fi
    log "mounted ${MOUNT_SOURCE} at ${MOUNT_POINT}"
}

main "$@"
