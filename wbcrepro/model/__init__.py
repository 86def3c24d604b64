"""The networks: EfficientNet families and their heads, pretrained weights, BatchNorm handling.

==============  ==============================================================================
``networks``    build a model from a config (arch, implementation, head, transfer regime)
``weights``     where ImageNet weights come from (URL, cache, offline packages, local files)
``batchnorm``   recomputed or re-weighted BatchNorm statistics before every evaluation
==============  ==============================================================================
"""
