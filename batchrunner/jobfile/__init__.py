"""The job file: its schema (``schema``), its reader (``reader``) and its errors (``errors``).

Import the public names from ``batchrunner.jobs``.
"""
