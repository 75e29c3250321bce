"""The Files API of the simulator (`/v1/files`): uploads, and the output and error files of batches.

`records.FileRecord` is what the store keeps (`store.files`); `handlers.ROUTES` are the endpoints.
"""
