"""The Batch API of the simulator (`/v1/batches`), for batches of `/v1/responses` requests.

`inputs` reads and checks an input file, `records` holds a batch and its JSON form, `lines` answers
one line through the Responses machinery, `lifecycle` moves a batch through its statuses lazily from
the clock (as runs and responses move), and `handlers.ROUTES` are the endpoints.
"""
