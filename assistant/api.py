"""HTTP API. For now: health, readiness and the source listing (answers come with the answers issue)."""

from __future__ import annotations

import ingest  # noqa: F401  (offline environment first)

from typing import Any

from fastapi import FastAPI, HTTPException

from ingest.registry import load_registry
from ingest.settings import Settings
from ingest.store import current_generation

app = FastAPI(title="Marktwijzer API", version="0.1.0")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/readyz")
def readyz() -> dict[str, Any]:
    generation = current_generation(Settings().index_dir)
    if generation is None:
        raise HTTPException(status_code=503, detail={"code": "index_not_ready", "message": "run `marktwijzer ingest`"})
    manifest = generation.read_manifest()
    return {
        "status": "ready",
        "generation": manifest.generation,
        "sources": len(manifest.sources),
        "chunks": sum(s.chunks for s in manifest.sources.values()),
    }


@app.get("/v1/sources")
def list_sources() -> list[dict[str, Any]]:
    settings = Settings()
    registry = load_registry(settings.registry_path)
    generation = current_generation(settings.index_dir)
    indexed = generation.read_manifest().sources if generation else {}
    return [
        {
            "id": entry.id,
            "title": entry.title,
            "publisher": entry.publisher,
            "edition": entry.edition,
            "type": entry.type.value,
            "status": entry.status.value,
            "chunks": indexed[entry.id].chunks if entry.id in indexed else 0,
            "indexed_at": indexed[entry.id].indexed_at if entry.id in indexed else None,
        }
        for entry in registry.sources
        if entry.approved
    ]
