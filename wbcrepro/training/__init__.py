"""One training run into one self-describing run folder (timm style). Imports no inference or
reproduction code.

===============  ============================================================================
``fit``          the training loop: a config in, a complete run folder out
``engine``       one epoch of training, one pass of evaluation (torchvision-reference style)
``evaluation``   BatchNorm-recalibrated evaluation and the final report of the selected model
``selection``    which epoch is tested (validation only)
``baselines``    chance, majority class, linear probe on frozen embeddings
``gate``         did the run learn (a degenerate model is flagged, never averaged in)
``run_files``    the run folder's training files: params, split, history, checkpoints
``experiment``   the experiment notebook's config and explicit fit-or-load step
===============  ============================================================================
"""
