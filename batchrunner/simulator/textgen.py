"""Deterministic "model output": token estimates and the assistant's reply text.

Tokens are estimated as ceil(characters / 4), OpenAI's rule of thumb. Replies echo the key words of
the last user message through one of a few templates picked by the run's own RNG, so the same seed
gives the same text. A message asking for a detailed/long answer gets a reply of several hundred
tokens, which is what makes `max_completion_tokens` bite.
"""

from __future__ import annotations

import json
import math
import random
import re
from typing import Any

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'\-]*")
_LONG_REQUEST = re.compile(
    r"\b(detailed|in detail|essay|elaborate|in depth|in-depth|thorough|long answer|at length)\b",
    re.IGNORECASE,
)
STOPWORDS = frozenset(
    (
        "a", "about", "above", "after", "again", "all", "also", "an", "and", "any", "are", "as", "at",
        "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can",
        "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from",
        "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how",
        "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "no",
        "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "out",
        "over", "own", "please", "same", "she", "should", "so", "some", "such", "than", "that", "the",
        "their", "theirs", "them", "then", "there", "these", "they", "this", "those", "through", "to",
        "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
        "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "summarise",
        "summarize", "tell", "give", "make", "let", "us",
    )
)  # fmt: skip
SUMMARY_TEMPLATES = (
    "Summary: {topic}.",
    "In short, this is about {topic}.",
    "Key points: {topic}.",
    "Here is a brief summary covering {topic}.",
)
LONG_SENTENCES = (
    "Regarding {word}, the main consideration is how it affects the overall outcome.",
    "On {word}: the evidence points to a steady, measurable effect worth tracking.",
    "As for {word}, it connects directly to the other points raised above.",
    "The role of {word} deserves attention because small changes there compound over time.",
)
LONG_REPLY_SENTENCES = 40
TOOL_OUTPUT_QUOTE_LIMIT = 500


def content_text(content: list[dict[str, Any]]) -> str:
    """The text parts of MessageObject content joined: what the simulated model reads."""
    return "\n".join(part["text"]["value"] for part in content if part["type"] == "text")


def estimate_tokens(text: str) -> int:
    """ceil(len(text) / 4): OpenAI's rough characters-per-token rule."""
    return math.ceil(len(text) / 4)


def keywords(text: str, limit: int = 6) -> list[str]:
    """The first distinct content words of the text, in order of appearance."""
    seen: list[str] = []
    for word in _WORD.findall(text):
        lowered = word.lower().strip("'-")
        if len(lowered) < 3 or lowered in STOPWORDS or lowered in seen:
            continue
        seen.append(lowered)
        if len(seen) == limit:
            break
    return seen


def _structured(reply: str, words: list[str], response_format: str | dict[str, Any] | None) -> str:
    """The reply as JSON when the run asked for json_object or json_schema output."""
    if not isinstance(response_format, dict) or response_format.get("type") == "text":
        return reply
    if response_format.get("type") == "json_object":
        return json.dumps({"summary": reply, "keywords": words})
    schema = response_format.get("json_schema", {}).get("schema") or {}
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict) or not properties:
        return json.dumps({"summary": reply})
    values: dict[str, Any] = {}
    for name, spec in properties.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        fillers: dict[str, Any] = {"integer": len(words), "number": len(words), "boolean": True, "object": {}}
        values[name] = words if kind == "array" else fillers.get(kind, reply) if isinstance(kind, str) else reply
    return json.dumps(values)


def compose_reply(user_text: str, rng: random.Random, response_format: str | dict[str, Any] | None) -> str:
    """The assistant's answer to a message when no tool was called."""
    # "Summarise this ticket: <text>" is about <text>, not about the instruction in front of it.
    subject = user_text.rsplit(":", 1)[-1]
    words = keywords(subject) if len(keywords(subject)) >= 2 else keywords(user_text)
    topic = ", ".join(words) if words else "your message"
    reply = rng.choice(SUMMARY_TEMPLATES).format(topic=topic)
    if _LONG_REQUEST.search(user_text):
        pool = words or ["the request"]
        sentences = [
            rng.choice(LONG_SENTENCES).format(word=pool[index % len(pool)]) for index in range(LONG_REPLY_SENTENCES)
        ]
        reply = reply + " " + " ".join(sentences)
    return _structured(reply, words, response_format)


def compose_tool_reply(results: list[tuple[str, str]]) -> str:
    """The answer after a tool round, quoting each output: "The result of calculate is 126."."""
    sentences = []
    for name, output in results:
        quoted = output.strip()
        if len(quoted) > TOOL_OUTPUT_QUOTE_LIMIT:
            quoted = quoted[:TOOL_OUTPUT_QUOTE_LIMIT] + "..."
        sentences.append(f"The result of {name} is {quoted or 'empty'}.")
    return " ".join(sentences)


def truncate_to_tokens(text: str, tokens: int) -> str:
    """The prefix of the text that fits in `tokens` estimated tokens."""
    return text[: max(tokens, 0) * 4]
