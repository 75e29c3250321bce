"""batchrunner: run large batches of OpenAI-style assistant runs reliably and fast."""

__version__ = "0.1.0"
