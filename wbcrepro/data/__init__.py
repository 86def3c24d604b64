"""Images to batches: every data set the package reads, how it is split, and how it is shown to a
model. Imports no training, model or inference code.

==================  ===========================================================================
``datasets/``       the registry and one loader per dataset family (upstream layouts as published)
``loading``         a config's data set, split and decoded into tables and loaders
``splits``          stratified, group-aware, seeded (k-fold) splits
``transforms``      the paper's augmentation and the evaluation transform
``images``          reading image files (a bad file is an error that names it)
``download``        public URLs -> the data root (resumable, atomic)
``inspection``      ``wbcrepro data check``: counts, sizes, exclusions, problems
``leakage/``        near-copies across splits (perceptual hashes, embeddings)
``synthetic/``      the embedded, clearly synthetic data set
``wbcatt``          WBCAtt's nucleus-shape annotations of PBC
==================  ===========================================================================
"""
