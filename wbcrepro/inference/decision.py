"""The one decision rule: a model's class probabilities -> a label in some label space.

A six-class PBC model answers in its own classes; another lab's set (Zheng 2018, BCCD, a
five-class task) has fewer, and ``neutrophil`` there is band *or* segmented here. Prediction and
cross-domain evaluation once answered differently for the same probabilities (argmax, then
relabel: 11.7 % on Zheng 2018 Dataset 1; sum, then argmax: 41 %), so there is one rule, used by
both (:func:`decide`):

* each source class maps onto the target class that covers all of its paper classes
  (``DatasetSpec.to_paper``); the probabilities of the source classes that map onto one target
  class are **summed** (the model is not penalised for a distinction the target never made);
* a source class that the target lacks keeps its own column: when it wins, the answer is that
  class, which is wrong in the target's terms (and counted so by cross-domain evaluation);
* then the argmax over the merged classes. With the identity mapping (a model in its own label
  space) this is the plain argmax, so in-domain results are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from wbcrepro.data.datasets import REGISTRY, get_dataset
from wbcrepro.data.datasets.common import FIVE_CLASS_TO_PAPER

FIVE_CLASS = "five-class"
"""The label space of the common five-class task (neutrophil, eosinophil, basophil, monocyte,
lymphocyte), without naming a dataset."""


class PaperMapping(Protocol):
    """Anything that says which paper classes each of its classes stands for."""

    @property
    def to_paper(self) -> Mapping[str, Sequence[str]]: ...


@dataclass(frozen=True)
class LabelSpace:
    """A set of target classes and the paper classes each stands for."""

    name: str
    classes: tuple[str, ...]
    to_paper: Mapping[str, Sequence[str]] = field(default_factory=dict)


def label_space_names() -> list[str]:
    """Every name :func:`label_space` accepts: ``five-class`` and each registered dataset with a
    fixed class list."""
    fixed = sorted(name for name, spec in REGISTRY.items() if spec.classes)
    return [FIVE_CLASS, *fixed]


def label_space(name: str) -> LabelSpace:
    """The label space ``five-class`` or of the registered dataset ``name``; an unknown name (or
    a dataset whose classes come from its files, such as ``folder``) raises listing the names."""
    if name == FIVE_CLASS:
        return LabelSpace(FIVE_CLASS, tuple(FIVE_CLASS_TO_PAPER), FIVE_CLASS_TO_PAPER)
    spec = REGISTRY.get(name)
    if spec is None or not spec.classes:
        raise ValueError(
            f"unknown label space {name!r}; choose one of {', '.join(label_space_names())}"
        )
    return LabelSpace(name, tuple(spec.classes), spec.to_paper)


def spec_or_none(name: str) -> PaperMapping | None:
    """The registered dataset ``name``, or None (a model trained on an unregistered set)."""
    try:
        return get_dataset(name)
    except KeyError:
        return None


@dataclass(frozen=True)
class ClassMapping:
    """How the source model's classes meet the target's."""

    source_to_target: dict[str, str | None]
    """Every source class -> the target class it counts as, or None (the target lacks it)."""
    columns: tuple[str, ...]
    """The merged classes the argmax runs over: the included target classes (target order),
    then the source classes the target lacks."""
    included: tuple[str, ...]
    """Target classes that at least one source class maps onto (scored)."""
    excluded: tuple[str, ...]
    """Target classes no source class maps onto (their images are left out)."""

    @property
    def absent_from_target(self) -> tuple[str, ...]:
        return self.columns[len(self.included) :]


def _covers(spec: PaperMapping | None, name: str) -> frozenset[str]:
    """The paper classes ``name`` stands for (its own name where the spec gives none)."""
    paper = spec.to_paper.get(name) if spec is not None else None
    return frozenset(paper or (name,))


def build_class_map(
    source_classes: Sequence[str],
    target_classes: Sequence[str],
    source_spec: PaperMapping | None = None,
    target_spec: PaperMapping | None = None,
    explicit: Mapping[str, str | None] | None = None,
) -> ClassMapping:
    """Match classes by meaning (see the module docstring); ``explicit`` overrides single source
    classes (``{source: target or None}``). Unknown names and ambiguous matches raise."""
    explicit = dict(explicit or {})
    unknown = sorted(set(explicit) - set(source_classes))
    bad_targets = sorted({t for t in explicit.values() if t is not None} - set(target_classes))
    if unknown or bad_targets:
        raise ValueError(
            f"class_map names unknown source class(es) {unknown} or target class(es) "
            f"{bad_targets}; source classes: {list(source_classes)}, target classes: "
            f"{list(target_classes)}"
        )
    mapping: dict[str, str | None] = {}
    for source in source_classes:
        if source in explicit:
            mapping[source] = explicit[source]
            continue
        covers = _covers(source_spec, source)
        matches = [t for t in target_classes if covers <= _covers(target_spec, t)]
        if len(matches) > 1:
            raise ValueError(
                f"source class {source!r} matches several target classes {matches}; "
                "pass class_map to choose"
            )
        mapping[source] = matches[0] if matches else None
    included = tuple(t for t in target_classes if t in mapping.values())
    excluded = tuple(t for t in target_classes if t not in included)
    absent = tuple(s for s in source_classes if mapping[s] is None)
    return ClassMapping(mapping, included + absent, included, excluded)


def identity_map(classes: Sequence[str]) -> ClassMapping:
    """A model in its own label space: every class onto itself (the plain argmax)."""
    return build_class_map(classes, classes)


def map_to_space(
    source_classes: Sequence[str], source_dataset: str, space: LabelSpace
) -> ClassMapping:
    """The mapping of a model trained on ``source_dataset`` onto ``space``."""
    return build_class_map(source_classes, space.classes, spec_or_none(source_dataset), space)


def merge_probabilities(
    probabilities: np.ndarray, source_classes: Sequence[str], mapping: ClassMapping
) -> np.ndarray:
    """Source-class probabilities (n, S) -> merged-class probabilities (n, len(columns)): each
    included target class gets the sum of its source classes, each absent class its own."""
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(source_classes):
        raise ValueError(
            f"probabilities of shape {probabilities.shape} do not fit {len(source_classes)} "
            "source classes"
        )
    merged = np.zeros((len(probabilities), len(mapping.columns)))
    for i, source in enumerate(source_classes):
        column = mapping.source_to_target[source] or source
        merged[:, mapping.columns.index(column)] += probabilities[:, i]
    return merged


def decide(
    probabilities: np.ndarray, source_classes: Sequence[str], mapping: ClassMapping
) -> tuple[np.ndarray, np.ndarray]:
    """(merged probabilities, index into ``mapping.columns`` of each row's answer): the one
    decision rule (module docstring)."""
    merged = merge_probabilities(probabilities, source_classes, mapping)
    answers = merged.argmax(1) if len(merged) else np.zeros(0, dtype=int)
    return merged, answers
