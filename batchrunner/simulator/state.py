"""The simulator's object store: ids, lookups, and creation of assistants, threads and messages.

It also holds the Responses API's responses and conversations, and the files and batches of the
Files and Batch APIs; the `responses`, `files` and `batches` packages create and look them up.

One `Store` holds everything; callers hold `store.lock` for the whole of a request, because the
ASGI server and the in-process transport may call in from several threads at once.
"""

from __future__ import annotations

import hashlib
import random
import threading
from typing import Any

from batchrunner.simulator.batches.records import BatchRecord
from batchrunner.simulator.catalogue import BUILTIN_ASSISTANTS, BUILTIN_THREADS, CATALOGUE_CREATED_AT
from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.errors import not_found
from batchrunner.simulator.files.records import FileRecord
from batchrunner.simulator.records import Assistant, Message, Run, Step, Thread
from batchrunner.simulator.request_bodies import AssistantSpec, ThreadSpec
from batchrunner.simulator.request_parts import MessageSpec
from batchrunner.simulator.responses.records import Conversation, ResponseRecord, StoredItem


class Store:
    """All simulated objects, keyed by id, in creation order."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.assistants: dict[str, Assistant] = {}
        self.threads: dict[str, Thread] = {}
        self.messages: dict[str, Message] = {}
        self.runs: dict[str, Run] = {}
        self.steps: dict[str, Step] = {}
        self.responses: dict[str, ResponseRecord] = {}
        self.conversations: dict[str, Conversation] = {}
        self.files: dict[str, FileRecord] = {}
        self.batches: dict[str, BatchRecord] = {}
        self._counters: dict[str, int] = {}
        self._load_catalogue()

    def now(self) -> float:
        """The configured clock's current time."""
        return self.config.clock()

    def new_id(self, prefix: str) -> str:
        """The next id of a kind; a function of (seed, kind, count) so equal seeds give equal ids."""
        count = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = count
        digest = hashlib.sha256(f"{self.config.seed}:{prefix}:{count}".encode()).hexdigest()
        return f"{prefix}_{digest[:24]}"

    def rng_for(self, object_id: str) -> random.Random:
        """An RNG private to one object, derived from (seed, object id)."""
        return random.Random(f"{self.config.seed}:{object_id}")

    def _load_catalogue(self) -> None:
        for entry in BUILTIN_ASSISTANTS:
            assistant = Assistant(
                id=entry["id"],
                created_at=CATALOGUE_CREATED_AT,
                model=entry["model"],
                name=entry.get("name"),
                instructions=entry.get("instructions"),
                tools=[dict(tool) for tool in entry.get("tools", [])],
            )
            self.assistants[assistant.id] = assistant
        for entry in BUILTIN_THREADS:
            thread = Thread(id=entry["id"], created_at=CATALOGUE_CREATED_AT, metadata=dict(entry["metadata"]))
            self.threads[thread.id] = thread
            for item in entry["messages"]:
                spec = MessageSpec(role=item["role"], content=_text_content(item["content"]))
                self.add_message(thread, spec, created_at=CATALOGUE_CREATED_AT, message_id=item["id"])
            # The same demo thread as a conversation, so one job file runs on either backend.
            conversation = Conversation(
                id=entry["id"], created_at=CATALOGUE_CREATED_AT, metadata=dict(entry["metadata"])
            )
            conversation.items.extend(_conversation_message(item) for item in entry["messages"])
            self.conversations[conversation.id] = conversation

    def assistant(self, assistant_id: str) -> Assistant:
        """The assistant, or a 404."""
        found = self.assistants.get(assistant_id)
        if found is None:
            raise not_found("assistant", assistant_id)
        return found

    def thread(self, thread_id: str) -> Thread:
        """The thread, or a 404."""
        found = self.threads.get(thread_id)
        if found is None:
            raise not_found("thread", thread_id)
        return found

    def message(self, thread_id: str, message_id: str) -> Message:
        """A message of the thread, or a 404."""
        self.thread(thread_id)
        found = self.messages.get(message_id)
        if found is None or found.thread_id != thread_id:
            raise not_found("message", message_id)
        return found

    def run(self, thread_id: str, run_id: str) -> Run:
        """A run of the thread, or a 404 (callers advance it to now before showing it)."""
        self.thread(thread_id)
        found = self.runs.get(run_id)
        if found is None or found.thread_id != thread_id:
            raise not_found("run", run_id)
        return found

    def step(self, run: Run, step_id: str) -> Step:
        """A step of the run, or a 404."""
        found = self.steps.get(step_id)
        if found is None or found.run_id != run.id:
            raise not_found("run step", step_id)
        return found

    def create_assistant(self, spec: AssistantSpec) -> Assistant:
        """A new assistant from a validated request."""
        assistant = Assistant(
            id=self.new_id("asst"),
            created_at=self.now(),
            model=spec.model,
            name=spec.name,
            description=spec.description,
            instructions=spec.instructions,
            tools=spec.tools,
            metadata=spec.metadata,
            temperature=spec.temperature if spec.temperature is not None else 1.0,
            top_p=spec.top_p if spec.top_p is not None else 1.0,
            response_format=spec.response_format or "auto",
            tool_resources=spec.tool_resources,
        )
        self.assistants[assistant.id] = assistant
        return assistant

    def create_thread(self, spec: ThreadSpec) -> Thread:
        """A new thread with its initial messages."""
        thread = Thread(
            id=self.new_id("thread"),
            created_at=self.now(),
            metadata=spec.metadata,
            tool_resources=spec.tool_resources,
        )
        self.threads[thread.id] = thread
        for message in spec.messages:
            self.add_message(thread, message)
        return thread

    def add_message(
        self,
        thread: Thread,
        spec: MessageSpec,
        *,
        created_at: float | None = None,
        message_id: str | None = None,
    ) -> Message:
        """Append a user- or client-written message to the thread."""
        message = Message(
            id=message_id or self.new_id("msg"),
            created_at=self.now() if created_at is None else created_at,
            thread_id=thread.id,
            role=spec.role,
            content=spec.content,
            attachments=spec.attachments,
            metadata=spec.metadata,
        )
        self.messages[message.id] = message
        thread.message_ids.append(message.id)
        return message

    def thread_messages(self, thread: Thread) -> list[Message]:
        """The thread's messages, oldest first."""
        return [self.messages[message_id] for message_id in thread.message_ids]


def _text_content(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"value": text, "annotations": []}}]


def _conversation_message(item: dict[str, Any]) -> StoredItem:
    text_part = {"type": "input_text", "text": item["content"]}
    body = {"id": item["id"], "type": "message", "role": item["role"], "status": "completed", "content": [text_part]}
    return StoredItem(item["id"], body)
