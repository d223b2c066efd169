#!/bin/bash
# The hello job of the original-style demos: who runs it, where, and with which arguments.
echo "hello from $(hostname) as job ${PBS_JOBID:-${PJM_JOBID:-?}}; args: $*"
echo "OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset} GREETING=${GREETING:-unset}"
