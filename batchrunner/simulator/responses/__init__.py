"""The Responses API (background mode included) and the Conversations API of the simulator.

`handlers.ROUTES` are the /v1/responses and /v1/conversations endpoints; the app serves them through
the same pipeline as the Assistants routes (faults, rate limits, stats, the store lock), without the
`OpenAI-Beta` check. A response's lifecycle is computed lazily from the clock, like a run's
(`lifecycle.advance`); its objects live in the shared `Store` (`store.responses`, `store.conversations`).
"""
