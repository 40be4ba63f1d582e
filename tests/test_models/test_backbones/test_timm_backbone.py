# Copyright (c) deepmark_mm contributors. All rights reserved.
"""TimmBackbone: levels of two trunk families, and ImageNet weights from a local file."""
import pytest
import timm
import torch

from deepmark_mm.models.backbones import TimmBackbone


@pytest.mark.parametrize('arch, out_indices, channels, strides, params', [
    ('dla34', (0, 1, 2, 3, 4, 5), (16, 32, 64, 128, 256, 512), (1, 2, 4, 8, 16, 32),
     (15.0e6, 16.0e6)),  # DLA-34 without its classifier
    ('tf_efficientnet_lite0', None, (16, 24, 40, 112, 320), (2, 4, 8, 16, 32), (2.9e6, 3.0e6)),
])
def test_levels_channels_and_strides(arch, out_indices, channels, strides, params):
    backbone = TimmBackbone(arch, out_indices=out_indices).eval()
    assert backbone.out_channels == channels and backbone.strides == strides
    with torch.no_grad():
        feats = backbone(torch.randn(2, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(2, c, 64 // s, 96 // s)
                                               for c, s in zip(channels, strides)]
    assert params[0] < sum(p.numel() for p in backbone.parameters()) < params[1]


def test_out_indices_subset():
    backbone = TimmBackbone('dla34', out_indices=(2, 3, 4, 5))
    assert backbone.out_channels == (64, 128, 256, 512)


def test_pretrained_local_file_in_timm_layout(tmp_path):
    """A classification checkpoint (classifier included) fills every trunk tensor."""
    torch.manual_seed(0)
    source = timm.create_model('tf_efficientnet_lite0')
    torch.save(source.state_dict(), tmp_path / 'lite0.pth')
    backbone = TimmBackbone('tf_efficientnet_lite0', pretrained=str(tmp_path / 'lite0.pth'))
    assert not torch.equal(backbone.trunk.conv_stem.weight, source.conv_stem.weight)
    backbone.init_weights()
    loaded, expected = backbone.trunk.state_dict(), source.state_dict()
    assert len(loaded) == 288 and all(torch.equal(v, expected[k]) for k, v in loaded.items())


def test_detector_backbone_through_mmengine_init_cfg(tmp_path):
    """mmengine's Pretrained init with a prefix reads a detector checkpoint's backbone."""
    source = TimmBackbone('dla34', out_indices=(0, 1, 2, 3, 4, 5))
    state = {f'backbone.{k}': torch.randn_like(v) if v.is_floating_point() else v
             for k, v in source.state_dict().items()}
    torch.save({'state_dict': {**state, 'neck.x': torch.zeros(1)}}, tmp_path / 'det.pth')
    backbone = TimmBackbone('dla34', out_indices=(0, 1, 2, 3, 4, 5), init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'det.pth'), prefix='backbone.'))
    backbone.init_weights()
    assert all(torch.equal(v, state[f'backbone.{k}']) for k, v in backbone.state_dict().items())


def test_tensorflow_same_padding_is_static_and_exact():
    """tf_* trunks: timm's size-dependent 'same' convs become fixed pads, same outputs."""
    torch.manual_seed(0)
    backbone = TimmBackbone('tf_efficientnet_lite0').eval()
    reference = timm.create_model('tf_efficientnet_lite0', features_only=True).eval()
    reference.load_state_dict(backbone.trunk.state_dict())
    assert sum(type(m).__name__ == 'Conv2dSame' for m in reference.modules()) == 5
    assert not any(type(m).__name__ == 'Conv2dSame' for m in backbone.modules())
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(backbone(x), reference(x)))
    with pytest.raises(ValueError, match='not divisible by its stride 32'):
        backbone(torch.randn(1, 3, 100, 96))
