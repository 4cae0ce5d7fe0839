#!/bin/sh
# Cron guard with etcd-coord: put the SAME crontab line on every host; for each hour exactly one host
# runs the job, the others see the slot already done and exit quietly.
#
#   # m h  dom mon dow  command
#   0 * * * *  ETCD_ENDPOINTS=10.0.0.5:2379,10.0.0.6:2379,10.0.0.7:2379 /opt/app/examples/cron-guard.sh >> /var/log/hourly-report.log 2>&1
#
# `--every 1h` names the slot after the whole hour NEAREST to now (2026-11-21T05:00:00.000Z), so hosts
# whose clocks differ by up to 30 minutes still agree. A host that crashes mid-run frees the slot after
# --ttl seconds and the next host runs it again.
#
# Environment: ETCD_ENDPOINTS (or --endpoints), ETCD_USER/ETCD_PASSWORD when etcd has auth;
# ETCD_COORD: the etcd-coord command (default: etcd-coord on PATH; may be "node /path/to/main.js");
# EXAMPLE_SLOT: run for this explicit slot instead of the current hour (used by the smoke test).
set -u

ETCD_COORD=${ETCD_COORD:-etcd-coord}
JOB=${JOB:-hourly-report}
if [ -n "${EXAMPLE_SLOT:-}" ]; then SLOT="--slot $EXAMPLE_SLOT"; else SLOT="--every 1h"; fi

# The job itself: the real work goes here. It sees the slot and a fencing token for its writes.
# shellcheck disable=SC2016 # expanded by the job's shell, not this one
JOB_CMD='echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) runs '"$JOB"' for slot $ETCD_COORD_ONCE_SLOT (fencing token $ETCD_COORD_FENCING_TOKEN)"; sleep 1'

# shellcheck disable=SC2086 # $ETCD_COORD and $SLOT are meant to split into words
$ETCD_COORD once "$JOB" $SLOT --ttl 10 -- sh -c "$JOB_CMD"
status=$?
case $status in
  0) ;;                                                        # ran here, successfully
  80) echo "$(hostname): $JOB already done for this slot" ;;   # another host ran it: fine
  81) echo "$(hostname): $JOB failed on another host" >&2 ;;  # alert on it, but do not rerun
  *) echo "$(hostname): $JOB exited $status" >&2 ;;
esac
[ $status -eq 80 ] && exit 0
exit $status
