"""The job file: its schema (``schema``, ``thread_schema``, ``responses_schema``), its reader (``reader``),
the assistants file (``assistants``), the Responses mapping (``responses_body``) and its errors (``errors``).

Import the public names from ``batchrunner.jobs``.
"""

from batchrunner.jobfile.spec import BackendName

__all__ = ["BackendName"]
