#!/bin/bash
# voxport workers as a SLURM job array on an HPC cluster, with the serverless fq:// queue on
# the shared filesystem (Lustre, GPFS, NFS: anything with hard links and atomic rename).
#
#   1. enqueue once (login node or a short job):
#        voxport ingest /lustre/lab/sections /lustre/lab/em --resolution 4,4,40 \
#          --queue fq:///lustre/lab/queues/em
#   2. sbatch deploy/slurm/worker-array.sh
#   3. voxport status fq:///lustre/lab/queues/em --watch
#
# Array tasks can start late, be preempted or hit their time limit: a killed worker's leases
# expire and another one takes its tasks. SLURM sends SIGTERM before the time limit
# (--signal below), and voxport finishes its running tasks then exits.
#SBATCH --job-name=voxport-em
#SBATCH --array=0-31%16          # 32 workers, at most 16 at once
#SBATCH --cpus-per-task=8
#SBATCH --mem=16G
#SBATCH --time=08:00:00
#SBATCH --signal=TERM@300        # SIGTERM 5 minutes before the limit: drain and exit
#SBATCH --output=logs/voxport-%A_%a.log
set -euo pipefail

QUEUE=${QUEUE:-fq:///lustre/lab/queues/em}
# Node ≥ 20 from an environment module, or the container: apptainer exec voxport.sif voxport …
module load nodejs/22 2>/dev/null || true

# exec: the signal reaches voxport itself.
exec voxport work "$QUEUE" --workers "$SLURM_CPUS_PER_TASK" --lease 300s --exit-when-empty
