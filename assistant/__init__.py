"""Assistant: question -> retrieval -> answer, and the interfaces on top (CLI, API)."""

import ingest  # noqa: F401  (offline environment first)
