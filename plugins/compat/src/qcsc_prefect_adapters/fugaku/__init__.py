"""The original's ``qcsc_prefect_adapters.fugaku`` package (qcsc-prefect-compat)."""
