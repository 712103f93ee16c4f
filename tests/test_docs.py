"""The accountability documents stay in step with the settings (issue 10)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr

from ingest.settings import Settings

REPO = Path(__file__).resolve().parent.parent
REGISTER = REPO / "docs" / "algorithm-register.md"


def _default(name: str) -> str:
    value = Settings.model_fields[name].default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return str(value)


def test_algorithm_register_lists_every_setting_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `MARKTWIJZER_([A-Z0-9_]+)` \| `([^`]*)` \|", REGISTER.read_text(), re.MULTILINE))
    fields = {name.upper(): _default(name) for name in Settings.model_fields}
    assert set(rows) == set(fields), (set(fields) - set(rows), set(rows) - set(fields))
    assert rows == fields


def test_model_card_and_security_name_only_real_settings_and_files() -> None:
    known = {f"MARKTWIJZER_{name.upper()}" for name in Settings.model_fields}
    for doc in (REPO / "docs" / "model-card.md", REPO / "SECURITY.md", REGISTER):
        text = doc.read_text()
        named = set(re.findall(r"MARKTWIJZER_[A-Z0-9_]+", text))
        assert named <= known, (doc.name, named - known)
        for path in re.findall(r"`((?:assistant|ingest|ui|tests|docs|scripts)/[\w/.-]+\.(?:py|md))", text):
            assert (REPO / path).exists(), (doc.name, path)
    card = (REPO / "docs" / "model-card.md").read_text()
    assert f"`MARKTWIJZER_EMBEDDING={_default('embedding')}`" in card
    assert f"`MARKTWIJZER_LLM={_default('llm')}`" in card
