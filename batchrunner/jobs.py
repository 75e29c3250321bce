"""The job file format and its reader (DESIGN.md, "Job file"): one JSON object per line.

    {"custom_id": "ticket-42", "assistant_id": "asst_support",
     "thread": {"messages": [{"role": "user", "content": "Summarise ticket 42"}]},
     "params": {"model": "gpt-4o-mini", "temperature": 0.2, "metadata": {"team": "support"}}}

- ``assistant_id`` (required) and exactly one of ``thread`` (a ``CreateThreadRequest`` body: a new
  thread) or ``thread_id`` (an existing thread; ``params.additional_messages`` may add messages).
- ``params``: the create-run body fields (``CreateRunRequest`` without ``assistant_id``, ``stream``
  and ``include``), validated as the API validates them; unknown keys are errors.
- ``backend`` (optional): ``"responses"`` or ``"assistants"``; the reader's ``default_backend`` when
  absent. On the responses backend ``assistant_id`` names an entry of the assistants file
  (``load_assistants``), ``thread_id`` is an existing conversation, and the line is mapped to a
  ``POST /v1/responses`` body (``JobSpec.request``, see ``responses_request``); a parameter with no
  Responses equivalent is an error of its line.
- ``deadline`` (optional): when the job must be done (``batchrunner.deadlines``).
- ``lane`` (optional, responses backend): ``auto`` (the default: the cheapest lane that meets the
  deadline), ``standard``, ``background-2h``, ``background-8h`` or ``flex`` (``batchrunner.lanes``).
- ``new_conversation`` (optional, only with ``thread``): on the responses backend the job's responses
  run on a conversation created for it; on the assistants backend it changes nothing.
- A Batch API line, ``{"custom_id", "method": "POST", "url": "/v1/responses", "body": {...}}``, is a
  responses job whose request is its body (validated; unknown keys are errors).
- ``custom_id``: 1 to 512 characters, unique within the file. A job without one gets ``line-<N>``,
  N being its 1-based line number in the file (blank lines count), so keep lines in place when you
  re-enqueue a file whose jobs have no ids.
- The metadata key ``batchrunner_job`` is reserved in ``params.metadata``, ``thread.metadata``, an
  assistant's ``metadata`` and a Batch line's ``body.metadata``: batchrunner tags the runs, threads
  and responses it creates with it, which also leaves room for 15 pairs of your own there (the API
  allows 16).
- Blank lines are ignored. A file with any invalid line is rejected as a whole, with every error
  named by line number and field, unless ``skip_invalid`` is set.
"""

from batchrunner.jobfile.assistants import (
    ASSISTANTS_FILE_NAME,
    AssistantDefinition,
    AssistantProblem,
    AssistantsFileError,
    default_assistants_path,
    load_assistants,
)
from batchrunner.jobfile.errors import JobFileError, LineError, LineErrorLog, LineErrors
from batchrunner.jobfile.fields import MAX_USER_METADATA_PAIRS, RESERVED_METADATA_KEY
from batchrunner.jobfile.reader import (
    DEFAULT_MAX_LINE_BYTES,
    JobFileReadResult,
    parse_job_line,
    read_job_file,
    scan_job_file,
)
from batchrunner.jobfile.responses_body import Refusal, RequestNotMappable, responses_request
from batchrunner.jobfile.spec import BackendName, JobSpec, default_custom_id

__all__ = [
    "ASSISTANTS_FILE_NAME",
    "DEFAULT_MAX_LINE_BYTES",
    "MAX_USER_METADATA_PAIRS",
    "RESERVED_METADATA_KEY",
    "AssistantDefinition",
    "AssistantProblem",
    "AssistantsFileError",
    "BackendName",
    "JobFileError",
    "JobFileReadResult",
    "JobSpec",
    "LineError",
    "LineErrorLog",
    "LineErrors",
    "Refusal",
    "RequestNotMappable",
    "default_assistants_path",
    "default_custom_id",
    "load_assistants",
    "parse_job_line",
    "read_job_file",
    "responses_request",
    "scan_job_file",
]
