"""The original's ``qcsc_prefect_blocks.slurm`` package (qcsc-prefect-compat)."""
