"""Small learned models of the answer path, stored as plain data (JSON), never as pickles.

A `LinearModel` is a standardised logistic regression: named features, their training mean and
scale, one weight each, an intercept and the decision threshold chosen on training folds. It is
trained by `assistant/learn.py` (scikit-learn) and applied here with numpy only, so serving needs
no scikit-learn and a reader can see what each feature weighs.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field, model_validator

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


class LinearModel(BaseModel):
    name: str
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float = 0.5
    trained_on: str = Field("", description="What it was fitted on (set and item count).")
    params: dict[str, float] = Field(default_factory=dict, description="Composition settings chosen with it.")

    @model_validator(mode="after")
    def _same_length(self) -> LinearModel:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise ValueError(f"model {self.name}: features, mean, scale and coef differ in length")
        return self

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """P(positive) for each row of features (in `self.features` order)."""
        if rows.size == 0:
            return np.zeros(0)
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        logits = z @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))

    def probability(self, row: dict[str, float]) -> float:
        return float(self.probabilities(np.asarray([[row[f] for f in self.features]], dtype=float))[0])

    def weights(self) -> list[tuple[str, float]]:
        """Standardised weights, largest magnitude first (what the model weighs most)."""
        return sorted(zip(self.features, self.coef, strict=True), key=lambda fw: -abs(fw[1]))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.model_dump()
        data["mean"] = [round(v, 6) for v in data["mean"]]
        data["scale"] = [round(v, 6) for v in data["scale"]]
        data["coef"] = [round(v, 6) for v in data["coef"]]
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@lru_cache(maxsize=8)
def load_model(name: str, directory: str = str(WEIGHTS_DIR)) -> LinearModel | None:
    """The shipped model `name` (weights/<name>.json), or None when it is not there."""
    path = Path(directory) / f"{name}.json"
    if not path.exists():
        return None
    return LinearModel.model_validate_json(path.read_text(encoding="utf-8"))


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


DEFAULT_COMPOSITION = {"extra_ratio": 0.6, "max_extra": 2.0, "max_words": 70.0}


class AnswerModels(BaseModel):
    """The learned parts of one answer path: the lead-sentence ranker, the answerability classifier
    and the composition settings chosen with them on training folds."""

    lead: LinearModel | None = None
    answerable: LinearModel | None = None
    composition: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_COMPOSITION))

    @classmethod
    def shipped(cls, directory: Path = WEIGHTS_DIR) -> AnswerModels:
        lead = load_model("lead_sentence", str(directory))
        answerable = load_model("answerable", str(directory))
        composition = dict(DEFAULT_COMPOSITION)
        if lead is not None:
            composition.update(lead.params)
        return cls(lead=lead, answerable=answerable, composition=composition)
