"""What the paper reports, typed once: Chegodaev 2021, quoted, never our results.

Every number in this module is a *quotation* of "Analysis of white blood cells with convolutional
neural networks" (Chegodaev, Kazan Federal University, 2021): its recipe (:data:`RECIPE`), its
result (:data:`PAPER_RESULT`), its Table 1 (:data:`TABLE1`) and the claims we test
(:data:`CLAIMS`). Our own numbers live only in run folders and the executed notebooks; report
code reads the paper's side from here so that it is typed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CITATION = (
    "Chegodaev, D. (2021). Analysis of white blood cells with convolutional neural networks. "
    "Kazan Federal University."
)

RECIPE: dict[str, Any] = {
    "arch": "efficientnet_b4",
    "head": "final layer replaced by Linear(6)",
    "weights": "imagenet",
    "transfer": "finetune",
    "transfer_note": "transfer learning from ImageNet, no layer frozen",
    "img_size": 224,
    "img_size_note": "224, below EfficientNet-b4's native 380",
    "classes": (
        "segmented neutrophil",
        "band neutrophil",
        "eosinophil",
        "basophil",
        "monocyte",
        "lymphocyte",
    ),
    "augmentation": (
        "RandomResizedCrop(256, scale=(0.8, 1)), RandomRotation(45), RandomHorizontalFlip(), "
        "RandomVerticalFlip(p=0.5), CenterCrop(224), ColorJitter(brightness=1)"
    ),
    "optimizer": "adam",
    "batch_size": 16,
    "loss": "CrossEntropyLoss",
    "lr": 0.005,
    "lr_epochs": "1-50",
    "lr_after_switch": 1.5e-6,
    "lr_after_switch_epochs": "30-80",
    "lr_switch_epoch_readings": (51, 30),
    "epochs": 80,
}
"""The paper's training recipe, as it states it (the lr ranges overlap: two readings)."""

PAPER_RESULT: dict[str, Any] = {
    "accuracy": 0.9964,
    "accuracy_text": "99.64%",
    "all_sets_text": "99% on all three sets",
    "all_sets_threshold": 0.99,
    "n_images": 11457,
    "data": "private (not published)",
    "num_classes": 6,
    "split": "train / validation / test (proportions not stated)",
    "model": "EfficientNet-b4 + transfer learning from ImageNet",
    "img_size": 224,
    "epochs": 80,
    "hardware": "not stated",
}
"""The paper's headline result, quoted."""


@dataclass(frozen=True)
class Table1Row:
    """One row of the paper's Table 1 (a quotation) and the registry dataset we compare it with."""

    study: str
    data: str
    n_images: int
    num_classes: int
    method: str
    accuracy_percent: float
    dataset: str | None
    """Our registry name of the same public data, or ``None`` when we cannot have it."""
    reason: str = ""
    """Why we cannot run it here (empty when we can)."""
    note: str = ""
    """What to know when comparing our number with it."""
    closest_public: str | None = None
    """For a row on data we cannot have: the registry dataset we show beside it as the *closest
    public equivalent* (clearly labelled: not the same data)."""


TABLE1: tuple[Table1Row, ...] = (
    Table1Row(
        "Habibzadeh et al. 2018",
        "Kaggle blood cells (dhruvp)",
        352,
        4,
        "CNN",
        93.17,
        "kaggle-bloodcells",
        note="same public data, but that study's 352 images and split differ from the published "
        "TRAIN/TEST folders we use",
    ),
    Table1Row(
        "Liang et al. 2018",
        "BCCD",
        364,
        4,
        "CNN + LSTM",
        90.79,
        "bccd",
        note="same public smears; our single-cell crops and split by smear are our own",
    ),
    Table1Row(
        "Su et al. 2014",
        "CellaVision",
        450,
        5,
        "morphology + NN/SVM/MLP",
        95.18,
        None,
        "CellaVision images of that study are not published",
        "different data",
    ),
    Table1Row("W-net", "private", 6562, 5, "CNN", 97.00, None, "private data", "different data"),
    Table1Row(
        "W-net",
        "LISC",
        254,
        5,
        "CNN, further training",
        96.00,
        "lisc",
        "the LISC archive is not available offline here (authors' page, manual download)",
        "beside it, the LISC crops: the same LISC cells as 255 single-cell crops (224x224), "
        "scored by 5-fold cross-validation; that study used the 254 smear images: the closest "
        "public equivalent, not the same test",
        closest_public="lisc-crops",
    ),
    Table1Row(
        "Almezghwi & Serte 2020",
        "LISC",
        254,
        5,
        "DenseNet-169 + GAN augmentation",
        98.80,
        "lisc",
        "the LISC archive is not available offline here (authors' page, manual download)",
        "beside it, the LISC crops: the same LISC cells as 255 single-cell crops (224x224), "
        "scored by 5-fold cross-validation; that study used the 254 smear images: the closest "
        "public equivalent, not the same test",
        closest_public="lisc-crops",
    ),
    Table1Row(
        "Chegodaev 2021 (the paper)",
        "private",
        11457,
        6,
        "EfficientNet-b4 + transfer learning",
        99.64,
        None,
        "private data (11,457 images, not published)",
        "the paper's own result; beside it, PBC (Acevedo et al. 2020), the one public set with "
        "the same six classes: the closest public equivalent, not the same data",
        closest_public="pbc",
    ),
)
"""The paper's Table 1 (study, data, n, classes, method, accuracy %), quoted."""


@dataclass(frozen=True)
class Claim:
    """A claim of the paper and how we test it.

    ``test`` says what the evidence runs must show:

    * ``threshold``: every evidence run's ``metric`` on ``splits`` reaches ``threshold``;
    * ``better``: the runs with ``vary == expected`` beat the others (non-overlapping 95% CIs);
    * ``not_worse``: the runs with ``vary == expected`` are not beaten by the others
      (``expected`` may be ``"smallest"`` or ``"largest"`` of the values run);
    * ``equivalent``: no value of ``vary`` beats another (non-overlapping 95% CIs);
    * ``per_class``: the recall of ``classes`` reaches ``threshold`` (needs data with them);
    * ``untestable``: ``reason`` says why it cannot be tested here.
    """

    id: str
    text: str
    how: str
    """Which run kind or ablation tests it (for the ledger)."""
    test: str
    vary: str = ""
    expected: Any = None
    metric: str = "accuracy"
    splits: tuple[str, ...] = ("test",)
    threshold: float = 0.0
    classes: tuple[str, ...] = ()
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    margin: float = 0.0
    """Margin of practical equivalence (accuracy, 0.02 = 2 points), declared before the runs:
    a difference whose whole interval lies inside plus or minus it is *no material effect*
    (:func:`wbcrepro.analysis.effects.effect_status`); 0 for claims judged against a threshold."""
    margin_reason: str = ""


MARGIN_REASON = (
    "2 accuracy points: the smallest change that would alter a lab's choice of recipe for a "
    "6-class differential (about one class's recall moving by 12 points on a balanced set), and "
    "of the order of the seed-to-seed spread of one recipe, so that it is neither drowned in seed "
    "noise nor so wide that any change reads as no effect"
)
"""Why the comparison claims' margin is 2 points (the method page quotes it)."""


CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="private_set",
        text="EfficientNet-b4 with transfer learning reaches 99.64% accuracy on the private "
        "11,457-image, 6-class set.",
        how="none: the data is private",
        test="untestable",
        reason="the paper's 11,457 images are private (not published)",
    ),
    Claim(
        id="accuracy",
        text="The recipe (EfficientNet + ImageNet transfer, the paper's augmentation and schedule) "
        "classifies white blood cells with at least 99% test accuracy.",
        how="experiment runs of the recipe on public data (and seeds); each run's test accuracy "
        "against 99% with its Wilson 95% CI",
        test="threshold",
        metric="accuracy",
        splits=("test",),
        threshold=0.99,
    ),
    Claim(
        id="all_sets",
        text="Accuracy is 99% on all three sets (train, validation and test).",
        how="experiment runs: validation and test accuracy of the final model against 99%",
        test="threshold",
        metric="accuracy",
        splits=("val", "test"),
        threshold=0.99,
    ),
    Claim(
        id="transfer",
        text="Transfer learning from ImageNet with every layer trained (fine-tuning) is what makes "
        "the accuracy possible.",
        how="ablation over transfer: finetune (the paper) vs frozen backbone vs from scratch",
        test="better",
        vary="transfer",
        expected="finetune",
        margin=0.03,
        margin_reason="3 points: the paper presents fine-tuning as what makes its accuracy "
        "possible, a large effect; a gain under 3 points would not carry that claim",
    ),
    Claim(
        id="augmentation",
        text="The paper's augmentation (crop, rotation, flips, brightness) helps.",
        how="ablation over augment: paper vs none, geometric only, colour only (a milder "
        "brightness is an ablation of its own: it varies brightness, not augment)",
        test="better",
        vary="augment",
        expected="paper",
        margin=0.02,
        margin_reason=MARGIN_REASON,
    ),
    Claim(
        id="input_size",
        text="224 px input suffices for EfficientNet-b4 (below its native 380 px).",
        how="ablation over img_size: the paper's 224 px against b4's native 380 px (another "
        "backbone at the same ratio to its native size)",
        test="not_worse",
        vary="img_size",
        expected="smallest",
        margin=0.02,
        margin_reason=MARGIN_REASON,
    ),
    Claim(
        id="lr_schedule",
        text="The two-stage schedule (0.005, then 1.5e-6) gives the result; the paper's "
        "overlapping ranges ('1-50', '30-80') leave the switch epoch open.",
        how="ablation over lr_switch_epoch: the two readings of the switch (epoch 51 or 30 of "
        "80, at the same fractions of a shorter training)",
        test="equivalent",
        vary="lr_switch_epoch",
        expected="largest",  # the reference: the "1-50" reading (the later switch)
        margin=0.02,
        margin_reason=MARGIN_REASON,
    ),
    Claim(
        id="learning_rate",
        text="Adam at learning rate 0.005 (then 1.5e-6) fine-tunes the pretrained network: the "
        "recipe's learning rate is not what limits it.",
        how="the paper's recipe beside the same runs at Adam 3e-4 without a switch, on each "
        "dataset (seeds paired), judged per dataset",
        test="not_worse",
        vary="lr",
        expected=0.005,
        margin=0.02,
        margin_reason=MARGIN_REASON,
    ),
    Claim(
        id="band_vs_segmented",
        text="The network separates band from segmented neutrophils (6 classes).",
        how="experiment runs on data with both classes (PBC's 6-class proxy; synthetic): their "
        "per-class recall against 99%",
        test="per_class",
        classes=("band_neutrophil", "segmented_neutrophil"),
        threshold=0.99,
    ),
)
"""The claims of the paper and how each is tested (see :func:`wbcrepro.report.claims_ledger`)."""


def get_claim(claim_id: str) -> Claim:
    """The claim ``claim_id``; an unknown id raises listing the known ones."""
    for claim in CLAIMS:
        if claim.id == claim_id:
            return claim
    raise KeyError(f"unknown claim {claim_id!r}; known: {', '.join(c.id for c in CLAIMS)}")


def table1_rows_for(dataset: str) -> list[Table1Row]:
    """The Table 1 rows on the registry dataset ``dataset`` (empty when none)."""
    return [row for row in TABLE1 if row.dataset == dataset]
