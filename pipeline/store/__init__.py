"""The DuckDB store: the only code that reads and writes the database.

:func:`open_store` opens (and migrates) a database and yields a :class:`Store`, whose
methods read and write each stage's tables in transactions; one writer at a time holds
the lock beside the file (:mod:`pipeline.store.lock`).
"""

from pipeline.store.connection import Store, open_store, use_settings
from pipeline.store.lock import lock_path
from pipeline.store.runs import new_run_id

__all__ = ["Store", "lock_path", "new_run_id", "open_store", "use_settings"]
