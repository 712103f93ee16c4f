"""Ingestion: approved source files -> clean, structured chunks -> Chroma + BM25 index.

Importing this package first pins the process to offline, quiet operation: these variables must be
set before transformers, huggingface_hub or chromadb are imported, and every entry point of
Marktwijzer (CLI, API, UI, tests) imports this package before any of those.
"""

import os

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    # Spin-waiting OpenMP threads turn a 10 ms query into 500 ms on a busy 2-core box (NOTES.md).
    "OMP_WAIT_POLICY": "PASSIVE",
}
for _key, _value in _OFFLINE_ENV.items():
    os.environ.setdefault(_key, _value)
