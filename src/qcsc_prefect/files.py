"""Writing a file in one step: readers see the old content or the new, never half of it.

Standard library only: the detached job runner (:mod:`qcsc_prefect.local.runner`) and
the fake scheduler commands of the test kit load this module without importing Prefect.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_atomic(path: Path | str, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` atomically (a temporary file, then ``os.replace``).

    The temporary file sits next to ``path`` (``.<name>.<pid>.<thread>.tmp``), so writers
    in other processes and threads never share one; a writer that dies leaves ``path``
    as it was. Text is written as UTF-8. The file is not fsync'ed: the replacement is
    atomic for readers and for a writer that crashes, not against the machine losing
    power. The parent directory must exist.

    Args:
        path: The file to replace (or create).
        data: Its new content.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
