"""Procedural *synthetic* peripheral-blood-smear crops of the paper's six white-blood-cell classes.

Why this exists: the real datasets used to reproduce the paper need a download (and sometimes a
licence click-through), so the package ships this generator as its embedded default dataset. With
it, every stage of the pipeline (data loading, splitting, training, evaluation, reporting) can run
anywhere, offline and deterministically. It is always called "synthetic" so that results obtained
on it can never be mistaken for results on real blood cells.

Each class is drawn with the morphological features a haematologist uses to recognise it in a
May-Grunwald-Giemsa (MGG) stained smear:

* segmented neutrophil: 3-5 dark purple nuclear lobes joined by thin strands, pale pink/lilac
  cytoplasm with fine faint granules;
* band neutrophil: one unsegmented, uniformly thick C- or S-shaped nucleus, same cytoplasm;
* eosinophil: usually bilobed nucleus, cytoplasm packed with coarse orange-red granules;
* basophil: coarse blue-black granules over the cytoplasm and obscuring the nucleus;
* monocyte: the largest cell, folded/kidney-shaped nucleus with lighter lacy chromatin, abundant
  grey-blue cytoplasm, sometimes vacuoles;
* lymphocyte: small cell, round dense nucleus filling most of it, thin sky-blue cytoplasm rim.

Cell diameters are expressed in red-blood-cell (RBC) diameters, as in haematology atlases. Pink
RBCs with central pallor are scattered around the white cell on a pale background. Stain, size,
shape, position, rotation, RBC layout, blur and noise are randomised per image. Shapes are drawn at
twice the requested resolution and downsampled with LANCZOS so that edges are anti-aliased.

Only numpy and PIL are used, so the generator has no heavy dependency.
"""

from __future__ import annotations

from wbcrepro.data.synthetic.cells import draw_cell
from wbcrepro.data.synthetic.tree import (
    METADATA_FILE,
    SYNTHETIC_NAME,
    SYNTHETIC_NOTE,
    SYNTHETIC_VERSION,
    generate_synthetic,
    image_rng,
)

__all__ = [
    "METADATA_FILE",
    "SYNTHETIC_NAME",
    "SYNTHETIC_NOTE",
    "SYNTHETIC_VERSION",
    "draw_cell",
    "generate_synthetic",
    "image_rng",
]
