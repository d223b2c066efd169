"""The built-in ``local`` scheduler target (see :mod:`qcsc_prefect.local.plugin`)."""
