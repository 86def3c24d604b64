"""Stain augmentation: random haematoxylin-eosin-DAB (HED) density jitter (Tellez et al. 2018).

Labs stain and photograph differently; a network that has only seen one lab's purple answers by
colour on another's. Each image is taken into HED optical-density space (scikit-image's colour
deconvolution), each channel's density scaled by U(1-s, 1+s) and shifted by U(-s, s) times its
own spread, and taken back to RGB. It runs after the geometric steps, on the small crop, so it
costs a few milliseconds per image. scikit-image is a maintained implementation of the
deconvolution (torchstain's Macenko fit can fail on odd images, and needs a per-image fit).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


class HEDJitter(torch.nn.Module):
    """Random HED density jitter on a PIL image (a torchvision v2 pipeline step)."""

    def __init__(self, strength: float) -> None:
        super().__init__()
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"stain jitter strength must be in [0, 1), got {strength}")
        self.strength = strength

    def forward(self, image: Image.Image) -> Image.Image:
        if self.strength == 0.0:
            return image
        from skimage.color import hed2rgb, rgb2hed

        s = self.strength
        # torch's generator: seeded per epoch like the other random steps (fit seeds it)
        alpha = 1.0 + (torch.rand(3).numpy() * 2.0 - 1.0) * s
        beta = (torch.rand(3).numpy() * 2.0 - 1.0) * s
        hed = rgb2hed(np.asarray(image.convert("RGB")))
        spread = hed.reshape(-1, 3).std(axis=0) + 1e-6
        jittered = hed * alpha + beta * spread
        rgb = np.clip(hed2rgb(jittered), 0.0, 1.0)
        return Image.fromarray((rgb * 255.0 + 0.5).astype(np.uint8))

    def extra_repr(self) -> str:
        return f"strength={self.strength}"
