"""deploy/docker-compose.yml stays consistent with the settings and the tested multi-worker command."""

from __future__ import annotations

from pathlib import Path

import yaml

from ingest.settings import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_services_and_settings_names() -> None:
    compose = _compose()
    assert {"chroma", "postgres", "api", "ui"} <= set(compose["services"])
    fields = set(Settings.model_fields)
    for name, service in compose["services"].items():
        for variable in service.get("environment") or {}:
            if variable.startswith("MARKTWIJZER_"):
                assert variable.removeprefix("MARKTWIJZER_").lower() in fields, (name, variable)
    api = compose["services"]["api"]["environment"]
    assert api["MARKTWIJZER_CHROMA_URL"].startswith("http://chroma:")
    assert api["MARKTWIJZER_DATABASE_URL"].startswith("postgresql://")
    for variable in (DEPLOY / "env.example").read_text().splitlines():
        if variable.startswith("MARKTWIJZER_") and not variable.startswith("MARKTWIJZER_UI_"):
            assert variable.split("=")[0].removeprefix("MARKTWIJZER_").lower() in fields, variable


def test_compose_runs_the_tested_commands() -> None:
    services = _compose()["services"]
    api = services["api"]["command"]
    assert api[:3] == ["uvicorn", "assistant.api:create_app", "--factory"] and "--workers" in api  # as test_api_workers
    assert services["chroma"]["command"][:2] == ["chroma", "run"]  # as tests/chromaserver.py
    assert services["postgres"]["image"].startswith("postgres:15")  # the major version CI tests against
