# Copyright (c) deepmark_mm contributors. All rights reserved.
"""TimmDLA: six DLA-34 levels, freezing, local pretrained loading."""
import pytest
import torch

from deepmark_mm.models.backbones import TimmDLA

DLA34_CHANNELS = (16, 32, 64, 128, 256, 512)


@pytest.fixture(scope='module')
def dla34():
    torch.manual_seed(0)
    return TimmDLA('dla34')


def test_levels_channels_and_strides(dla34):
    assert dla34.out_channels == DLA34_CHANNELS
    assert dla34.strides == (1, 2, 4, 8, 16, 32)
    dla34.eval()
    with torch.no_grad():
        feats = dla34(torch.randn(2, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(2, c, 64 // 2**k, 96 // 2**k)
                                               for k, c in enumerate(DLA34_CHANNELS)]
    num_params = sum(p.numel() for p in dla34.parameters())
    # DLA-34 without its ImageNet classifier (fc: 512 * 1000 + 1000)
    assert 15_000_000 < num_params < 16_000_000


def test_out_indices_subset():
    backbone = TimmDLA('dla34', out_indices=(2, 3, 4, 5))
    assert backbone.out_channels == DLA34_CHANNELS[2:]
    with torch.no_grad():
        feats = backbone.eval()(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == list(DLA34_CHANNELS[2:])


def test_rejects_non_dla_arch():
    with pytest.raises(ValueError, match='resnet18'):
        TimmDLA('resnet18')


def test_frozen_stages_and_norm_eval():
    backbone = TimmDLA('dla34', frozen_stages=1, norm_eval=True)
    backbone.train()
    frozen = [n for n, p in backbone.trunk.named_parameters() if not p.requires_grad]
    assert frozen and all(n.split('.')[0] in ('base_layer', 'level0', 'level1') for n in frozen)
    assert all(p.requires_grad for n, p in backbone.trunk.named_parameters()
               if n.startswith('level2'))
    assert all(not m.training for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize('layout', ['official', 'detector'])
def test_pretrained_init_from_local_file(tmp_path, dla34, layout):
    """Official ImageNet DLA keys (plus fc and unused projections) or a detector's backbone."""
    source = {
        k: torch.randn_like(v) if v.is_floating_point() else v
        for k, v in dla34.trunk.state_dict().items()
    }
    if layout == 'official':
        checkpoint = dict(source)
        checkpoint['fc.weight'] = torch.randn(1000, 512, 1, 1)
        checkpoint['level3.project.0.weight'] = torch.randn(128, 64, 1, 1)
        init_cfg = dict(type='Pretrained', checkpoint=str(tmp_path / 'dla34.pth'))
    else:
        checkpoint = {'state_dict': {f'backbone.trunk.{k}': v for k, v in source.items()}}
        checkpoint['state_dict']['neck.foo'] = torch.zeros(1)
        init_cfg = dict(
            type='Pretrained', checkpoint=str(tmp_path / 'dla34.pth'), prefix='backbone')
    torch.save(checkpoint, tmp_path / 'dla34.pth')
    backbone = TimmDLA('dla34', init_cfg=init_cfg)
    backbone.init_weights()
    loaded = backbone.trunk.state_dict()
    assert loaded.keys() == source.keys()
    for key, value in source.items():
        assert torch.equal(loaded[key], value), key


def test_pretrained_prefix_missing_is_an_error(tmp_path):
    torch.save({'state_dict': {'neck.x': torch.zeros(1)}}, tmp_path / 'det.pth')
    backbone = TimmDLA(
        'dla34',
        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'det.pth'), prefix='backbone.'))
    with pytest.raises(KeyError, match='det.pth'):
        backbone.init_weights()
