"""wbcrepro: an open reproduction of Chegodaev (2021), "Analysis of white blood cells with
convolutional neural networks" (EfficientNet-b4, 6 classes, transfer learning).

Packages by concern; imports run down this list, never up (``tests/test_structure.py``):

================  ==============================================================================
``reproduction``  profiles -> papermill -> executed notebooks and run records -> the book
``report``        the book's pages; they only read run folders (no torch, no training code)
``inference``     using a trained model: one loader, predict, the shipped model, other labs' data
``training``      one run into one run folder: fit, epochs, evaluation, selection, baselines
``model``         networks, pretrained weights, BatchNorm handling
``data``          data sets in their upstream layouts, splits, transforms, leakage audits
``analysis``      what the runs say about the claims: pure numbers, no torch
================  ==============================================================================

Shared at the top: ``config`` (the recipe, a frozen validated dataclass), ``classes``, ``paths``,
``fileio``, ``runfolder`` (a run folder's files and the ``results.json`` schema),
``metrics`` (accuracy with intervals, macro-F1, per-class reports: training and analysis
both score with it), ``environment``, ``codehash`` / ``importgraph`` (what a result depends on),
``cli``.
"""

__version__ = "0.1.0"
