#!/bin/bash
# Bootstrap for the ECS instances of airflow-staging: mount s3://acme-dataplatform-airflow/airflow/staging/
# read-only at /mnt/airflow, where the task definitions find dags/ and plugins/.
# Written by airflow-ecs-wizard; safe to run again (one fstab line, mount only if needed).
set -euo pipefail

FSTAB="${FSTAB:-/etc/fstab}"
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

main() {
    install_mount_tool
    mkdir -p "${MOUNT_POINT}"
    add_fstab_line
    if ! mountpoint -q "${MOUNT_POINT}"; then
        mount "${MOUNT_POINT}"
    fi
    log "mounted ${MOUNT_SOURCE} at ${MOUNT_POINT}"
}

main "$@"
