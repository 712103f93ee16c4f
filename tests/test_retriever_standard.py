"""`MarktwijzerRetriever` against LangChain's own standard retriever suite (langchain-tests,
`RetrieversIntegrationTests`): `k` in the constructor and per `invoke`, sync and async, on the real index."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from assistant.answer import get_assistant
from assistant.retrieve import Filters, MarktwijzerRetriever
from ingest.models import IngestReport
from ingest.settings import Settings


class TestMarktwijzerRetriever(RetrieversIntegrationTests):
    hybrid: Any = None

    @pytest.fixture(autouse=True)
    def _hybrid(self, built_index: tuple[Settings, IngestReport]) -> None:
        # The suite builds the retriever from `retriever_constructor_params`: the loaded index goes in there.
        type(self).hybrid = get_assistant(built_index[0]).retriever

    @property
    def retriever_constructor(self) -> type[MarktwijzerRetriever]:
        return MarktwijzerRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"retriever": self.hybrid}

    @property
    def retriever_query_example(self) -> str:
        return "vacatures in de zorg in regio Amersfoort"


def test_filters_per_invoke(built_index: tuple[Settings, IngestReport]) -> None:
    retriever = MarktwijzerRetriever(retriever=get_assistant(built_index[0]).retriever)
    only = Filters(sources=["uwv-regio-in-beeld-2025-2026-groningen"])
    documents = retriever.invoke("vacatures", k=4, filters=only)
    assert len(documents) == 4 and {d.metadata["source_id"] for d in documents} == set(only.sources)
    assert len(retriever.invoke("vacatures")) == retriever.k == 5  # the per-call values do not stick
