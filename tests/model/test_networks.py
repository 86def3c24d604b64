"""Networks, heads, transfer modes and weights loading."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_image
from torch import nn

from wbcrepro.config import TrainConfig
from wbcrepro.data.transforms import eval_transform, input_stats
from wbcrepro.model import weights as W
from wbcrepro.model.networks import (
    build_model,
    build_network,
    count_parameters,
    freeze_backbone,
    head_prefix,
    train_mode,
)

B4_6_CLASSES = 17_559_374  # 19,341,616 (b4, 1000 classes) - 1792*994 - 994


@pytest.mark.parametrize("impl", ["torchvision", "efficientnet_pytorch"])
def test_b4_with_six_classes_has_the_papers_parameter_count(impl: str) -> None:
    model = build_network("efficientnet_b4", impl, 6)
    assert count_parameters(model) == B4_6_CLASSES
    head = dict(model.named_modules())[head_prefix("efficientnet_b4", impl).rstrip(".")]
    assert isinstance(head, nn.Linear)
    assert (head.in_features, head.out_features) == (1792, 6)


@pytest.mark.parametrize("impl", ["torchvision", "efficientnet_pytorch"])
def test_forward_gives_one_logit_per_class(impl: str) -> None:
    model = build_network("efficientnet_b0", impl, 6).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 6)


def test_efficientnet_pytorch_uses_native_silu() -> None:
    model = build_network("efficientnet_b0", "efficientnet_pytorch", 6)
    swishes = [m._swish for m in model.modules() if hasattr(m, "_swish")]
    assert swishes and all(isinstance(s, nn.SiLU) for s in swishes)


def test_frozen_mode_trains_only_the_head_and_keeps_batchnorm_statistics() -> None:
    model = build_network("efficientnet_b0", "torchvision", 6)
    freeze_backbone(model, head_prefix("efficientnet_b0", "torchvision"))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.1.weight", "classifier.1.bias"}
    assert count_parameters(model, trainable_only=True) == 1280 * 6 + 6
    train_mode(model)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    before = bns[0].running_mean.clone()
    model(torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(before, bns[0].running_mean)


def test_finetune_mode_trains_everything_with_lite0_imagenet_weights() -> None:
    cfg = TrainConfig.from_flat({"arch": "efficientnet_lite0", "transfer": "finetune"})
    model = build_model(cfg)
    assert count_parameters(model, trainable_only=True) == count_parameters(model)


def test_lite0_imagenet_weights_load_every_key_but_the_head() -> None:
    model = build_network("efficientnet_lite0", "torchvision", 6)
    state = W.read_state_dict(W.lite0_weights_file())
    own = model.state_dict()
    assert {k for k in own if k not in state} == set()
    assert {k for k in own if own[k].shape != state[k].shape} == {"_fc.weight", "_fc.bias"}
    fresh_stem = own["_conv_stem.weight"].clone()
    W.load_backbone_weights(
        model, "efficientnet_lite0", "efficientnet_lite_pytorch", "imagenet", "_fc."
    )
    loaded = model.state_dict()
    assert torch.equal(loaded["_conv_stem.weight"], state["_conv_stem.weight"])
    assert not torch.equal(loaded["_conv_stem.weight"], fresh_stem)


def test_pretrained_lite0_recognises_a_real_photo() -> None:
    """The temple photo that scikit-learn ships must come out as a building class of ImageNet."""
    from torchvision.models import EfficientNet_B0_Weights

    categories = EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"]
    model = build_network("efficientnet_lite0", "torchvision", 1000)
    W.load_backbone_weights(
        model, "efficientnet_lite0", "efficientnet_lite_pytorch", "imagenet", "_fc."
    )
    image = Image.fromarray(load_sample_image("china.jpg"))
    x = eval_transform(224, 256, input_stats("efficientnet_lite0"))(image)[None]
    with torch.no_grad():
        top5 = model.eval()(x).softmax(1)[0].topk(5).indices.tolist()
    names = [categories[i] for i in top5]
    assert names[0] in {"palace", "monastery", "bell cote", "church", "castle", "pagoda"}, names


def test_local_weights_file_round_trip(tmp_path) -> None:
    source = build_network("efficientnet_b0", "torchvision", 6)
    path = tmp_path / "b0.pth"
    torch.save(source.state_dict(), path)
    cfg = TrainConfig.from_flat({"arch": "efficientnet_b0", "weights": str(path)})
    model = build_model(cfg)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_weights_with_wrong_shapes_are_refused_naming_the_keys(tmp_path) -> None:
    path = tmp_path / "b1.pth"
    torch.save(build_network("efficientnet_b1", "torchvision", 6).state_dict(), path)
    cfg = TrainConfig.from_flat({"arch": "efficientnet_b2", "weights": str(path)})
    with pytest.raises(W.WeightsError, match=r"does not fit efficientnet_b2.*wrong shapes"):
        build_model(cfg)


def test_missing_and_unreadable_weights_files_are_named(tmp_path) -> None:
    with pytest.raises(W.WeightsError, match=r"weights file not found: .*nope\.pth"):
        build_model(TrainConfig.from_flat({"weights": str(tmp_path / "nope.pth")}))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(W.WeightsError, match=r"cannot read weights file .*junk\.pth"):
        build_model(TrainConfig.from_flat({"arch": "efficientnet_b0", "weights": str(junk)}))


def test_imagenet_download_offline_fails_fast_with_url_cache_and_advice(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = "http://127.0.0.1:9/efficientnet_b0_rwightman-7f5810bc.pth"  # closed port: refused
    monkeypatch.setattr(W, "imagenet_url", lambda arch, impl: url)
    cfg = TrainConfig.from_flat({"arch": "efficientnet_b0"})
    with pytest.raises(W.WeightsError) as info:
        build_model(cfg)
    message = str(info.value)
    assert url in message
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in message
    assert "weights=/path/to/weights.pth" in message


def test_imagenet_weights_found_in_the_hub_cache_are_used_without_download(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    url = W.imagenet_url("efficientnet_b0", "efficientnet_pytorch")
    cached = tmp_path / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    source = build_network("efficientnet_b0", "efficientnet_pytorch", 1000)
    torch.save(source.state_dict(), cached)
    cfg = TrainConfig.from_flat({"arch": "efficientnet_b0", "impl": "efficientnet_pytorch"})
    model = build_model(cfg)
    assert torch.equal(
        model.state_dict()["_conv_stem.weight"], source.state_dict()["_conv_stem.weight"]
    )
    assert model.state_dict()["_fc.weight"].shape == (6, 1280)
