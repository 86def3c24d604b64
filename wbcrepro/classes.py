"""The paper's six white-blood-cell classes, in one place.

Every dataset maps its own label names onto these (or onto a subset of them), so that results
on different public sets can be compared with the paper's 6-class task.
"""

from __future__ import annotations

PAPER_CLASSES: tuple[str, ...] = (
    "segmented_neutrophil",
    "band_neutrophil",
    "eosinophil",
    "basophil",
    "monocyte",
    "lymphocyte",
)

DISPLAY_NAMES: dict[str, str] = {
    "segmented_neutrophil": "segmented neutrophil",
    "band_neutrophil": "band neutrophil",
    "eosinophil": "eosinophil",
    "basophil": "basophil",
    "monocyte": "monocyte",
    "lymphocyte": "lymphocyte",
}
