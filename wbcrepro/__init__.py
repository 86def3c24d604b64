"""wbcrepro: an open reproduction of Chegodaev (2021), "Analysis of white blood cells with
convolutional neural networks" (EfficientNet-b4, 6 classes, transfer learning).

Modules, one job each: ``config`` (the recipe), ``models`` / ``weights`` (networks and pretrained
weights), ``transforms`` (augmentation), ``data`` / ``splits`` / ``datasets`` (images to batches),
``engine`` (one epoch), ``runs`` (a run folder), ``metrics``, ``inference``, ``cli``.
"""

__version__ = "0.1.0"
