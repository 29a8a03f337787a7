#!/bin/sh
# slurm_test.sh - a tiny grid through a one-node Slurm started here
# without systemd or cgroups: munged with a private key, slurmctld and
# slurmd on 127.0.0.1 with configuration, state and logs under a temporary
# directory, proctrack/linuxproc.  Checks that the job array and the
# report job it submits give results equal, bit for bit, to the local
# runner's on the same grid; that an array cancelled halfway and submitted
# again ends with the same results, each cell once; and that a second
# submit finds nothing left to run.  Stops the daemons it started (by
# their pid files) on any exit.  Skipped (exit 77) without slurm-wlm and
# munge, or when not run as root.
#   STUDY_REAL_BIN=build/bin  use the real baseline and adv binaries there
#                             (on $CIFAR10_DIR) instead of the fake model
set -u
BUILD=${BUILD:-build}
PATH=$PATH:/usr/sbin:/sbin
STUDY=$(realpath "$BUILD/bin/advcc-study")
FAKE=$(realpath "$BUILD/tests/study/fake_model")
pass=0 fail=0

skip() {
    echo "slurm_test: skipped: $1"
    echo "slurm_test: 0 passed, 0 failed, 1 skipped"
    exit 77
}
check() { # description, then a command that must succeed
    what=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
        echo "ok: $what"
    else
        fail=$((fail + 1))
        echo "FAILED: $what"
    fi
}

for tool in slurmctld slurmd sbatch sinfo scancel munged mungekey; do
    command -v $tool >/dev/null 2>&1 || skip "$tool is not installed (slurm-wlm, munge)"
done
[ "$(id -u)" = 0 ] || skip "the daemons need root"
[ -x "$STUDY" ] && [ -x "$FAKE" ] || { echo "slurm_test: build $STUDY and $FAKE first"; exit 1; }

T=$(mktemp -d /tmp/advcc-slurm-XXXXXX)
chmod 755 "$T"
export SLURM_CONF="$T/slurm.conf"

stop_pidfile() {
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    kill -KILL "$pid" 2>/dev/null
}
cleanup() {
    if [ -f "$T/slurmctld.pid" ]; then
        scancel --quiet --user="$(id -un)" 2>/dev/null
    fi
    stop_pidfile "$T/slurmd.pid"
    stop_pidfile "$T/slurmctld.pid"
    stop_pidfile "$T/munge/munged.pid"
    if [ "$fail" != 0 ] || [ -n "${SLURM_TEST_KEEP:-}" ]; then
        echo "slurm_test: logs kept in $T"
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# munge with a key of our own (the packaged one belongs to the munge user)
mkdir -p "$T/munge" && chmod 755 "$T/munge"
mungekey --create --keyfile="$T/munge/munge.key" || exit 1
munged --key-file="$T/munge/munge.key" --socket="$T/munge/munge.socket" \
    --pid-file="$T/munge/munged.pid" --log-file="$T/munge/munged.log" \
    --seed-file="$T/munge/munged.seed" || { echo "munged did not start"; exit 1; }

# ports of our own, so that other Slurm instances on the machine are no bother
port=$((20000 + $$ % 20000))
host=$(hostname -s)
node=$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')
mkdir -p "$T/state" "$T/spool"
cat >"$SLURM_CONF" <<CONF
ClusterName=advcc-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.socket,cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MailProg=/bin/true
ReturnToService=2
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=2,bf_interval=2
NodeName=$host NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld || { echo "slurmctld did not start"; exit 1; }
slurmd -N "$host" || { echo "slurmd did not start"; exit 1; }
up=0
for _ in $(seq 1 40); do
    if sinfo -h -o %t 2>/dev/null | grep -q idle; then up=1; break; fi
    sleep 0.25
done
[ $up = 1 ] || { echo "slurm_test: the node did not come up"; sinfo; exit 1; }

# the grid: 2 models, 2 seeds, 2 eps: 6 cells, 8 rows
mkdir -p "$T/bin"
for m in baseline adv; do
    if [ -n "${STUDY_REAL_BIN:-}" ]; then
        ln -s "$(realpath "$STUDY_REAL_BIN/$m")" "$T/bin/$m"
    else
        ln -s "$FAKE" "$T/bin/$m"
    fi
done
cat >"$T/tiny.grid" <<GRID
models baseline adv
seeds 0-1
eps 4 8
epochs 1
train_limit 300
test_limit 100
threads 1
bin $T/bin
GRID
export FAKE_STEP_MS=20

"$STUDY" run --no-progress --out "$T/local" "$T/tiny.grid" >"$T/local.log" 2>&1
check "the local runner finishes the grid" test $? = 0

start=$(date +%s)
"$STUDY" submit --wait --out "$T/slurm" "$T/tiny.grid" >"$T/submit.log" 2>&1
rc=$?
check "submit --wait returns 0 (array job and report job)" test $rc = 0
echo "slurm_test: the array and report jobs took $(( $(date +%s) - start )) s"
check "the array job covered the 6 cells" grep -q "cells 0-5" "$T/submit.log"

# results without the columns that differ between identical runs
project() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) drop[i] = ($i == "host" || $i == "train_s" || $i == "attack_s") }
             { out = ""; for (i = 1; i <= NF; i++) if (!drop[i]) out = out (out == "" ? "" : ",") $i; print out }' "$1"
}
if [ -f "$T/slurm/results.csv" ]; then
    project "$T/local/results.csv" >"$T/local.tidy"
    project "$T/slurm/results.csv" >"$T/slurm.tidy"
    check "Slurm's results equal the local runner's" cmp -s "$T/local.tidy" "$T/slurm.tidy"
    check "8 rows" test "$(wc -l <"$T/slurm.tidy")" = 9
else
    check "Slurm wrote a results file" false
fi
check "the report job wrote the report" test -s "$T/slurm/report/report.md"
check "one output file per array task" test "$(ls "$T/slurm/slurm"/cell-*.out 2>/dev/null | wc -l)" = 6

"$STUDY" submit --dry-run --out "$T/slurm" "$T/tiny.grid" >"$T/resubmit.log" 2>&1
check "a second submit has nothing left to run" grep -q "^0 of 6 cells to run" "$T/resubmit.log"

# cancelled halfway, then submitted again
FAKE_STEP_MS=150 "$STUDY" submit --out "$T/cancel" "$T/tiny.grid" >"$T/cancel.log" 2>&1
for _ in $(seq 1 40); do
    ls "$T/cancel/cells"/*/*/result.csv >/dev/null 2>&1 && break
    sleep 0.25
done
scancel --quiet --user="$(id -un)"
for _ in $(seq 1 40); do
    [ -z "$(squeue -h -t PENDING,RUNNING,COMPLETING 2>/dev/null)" ] && break
    sleep 0.25
done
finished=$(ls "$T/cancel/cells"/*/*/result.csv 2>/dev/null | wc -l)
check "the cancel came halfway ($finished of 6 cells finished)" test "$finished" -lt 6
"$STUDY" submit --wait --out "$T/cancel" "$T/tiny.grid" >"$T/cancel2.log" 2>&1
check "the second submit runs only the unfinished cells" \
    grep -q "^$((6 - finished)) of 6 cells to run" "$T/cancel2.log"
if [ -f "$T/cancel/results.csv" ]; then
    project "$T/cancel/results.csv" >"$T/cancel.tidy"
    check "after cancel and resubmit the results equal the local runner's" \
        cmp -s "$T/local.tidy" "$T/cancel.tidy"
else
    check "after cancel and resubmit there is a results file" false
fi

if [ "$fail" != 0 ]; then
    for f in "$T"/submit.log "$T"/cancel*.log "$T"/slurm/slurm/*.out; do
        [ -f "$f" ] && { echo "--- $f"; cat "$f"; }
    done
fi
echo "slurm_test: $pass passed, $fail failed"
[ "$fail" = 0 ]
