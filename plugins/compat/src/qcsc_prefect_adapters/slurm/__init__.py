"""The original's ``qcsc_prefect_adapters.slurm`` package (qcsc-prefect-compat)."""
