# Copyright (c) deepmark_mm contributors. All rights reserved.
"""centernet_to_deepmark: official CenterNet key names -> deepmark_mm, checked end to end.

The official checkpoints cannot be downloaded here, so the tests build networks that carry the
official module names (CenterNet's ``pose_dla_dcn.py`` DLASeg and ``large_hourglass.py`` exkp,
written from their structure): full size on the ``meta`` device for key/shape coverage, and
small instances with the official forward to check that converted weights compute the same.
"""
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
CONVERTER_PATH = REPO / 'tools' / 'model_converters' / 'centernet_to_deepmark.py'
COCO_HEADS = dict(hm=80, wh=2, reg=2)
MULTI_POSE_HEADS = dict(hm=1, wh=2, reg=2, hps=34, hm_hp=17, hp_offset=2)
DEEPMARK_HEADS = dict(hm=13, wh=2, reg=2, hps=588, hm_hp=294, hp_offset=2)


def _load_converter():
    spec = importlib.util.spec_from_file_location('centernet_to_deepmark', CONVERTER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


converter = _load_converter()

# ----------------------------------------------------------------- CenterNet DLASeg (names)


class OfficialBasicBlock(nn.Module):

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)


class OfficialRoot(nn.Module):

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)


class OfficialTree(nn.Module):
    """Official DLA ``Tree``: note ``project`` whenever in != out, also for levels > 1."""

    def __init__(self, levels, in_channels, out_channels, stride=1, level_root=False, root_dim=0):
        super().__init__()
        if root_dim == 0:
            root_dim = 2 * out_channels
        if level_root:
            root_dim += in_channels
        if levels == 1:
            self.tree1 = OfficialBasicBlock(in_channels, out_channels, stride)
            self.tree2 = OfficialBasicBlock(out_channels, out_channels, 1)
            self.root = OfficialRoot(root_dim, out_channels)
        else:
            self.tree1 = OfficialTree(levels - 1, in_channels, out_channels, stride)
            self.tree2 = OfficialTree(
                levels - 1, out_channels, out_channels, root_dim=root_dim + out_channels)
        if in_channels != out_channels:
            self.project = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))


def _conv_level(inplanes, planes, stride):
    return nn.Sequential(
        nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes),
        nn.ReLU(inplace=True))


class OfficialDLA34(nn.Module):
    """``dla34(pretrained=True)``: the trunk plus the ImageNet ``fc`` CenterNet loads."""

    def __init__(self):
        super().__init__()
        self.base_layer = nn.Sequential(
            nn.Conv2d(3, 16, 7, 1, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.level0 = _conv_level(16, 16, 1)
        self.level1 = _conv_level(16, 32, 2)
        self.level2 = OfficialTree(1, 32, 64, 2, level_root=False)
        self.level3 = OfficialTree(2, 64, 128, 2, level_root=True)
        self.level4 = OfficialTree(2, 128, 256, 2, level_root=True)
        self.level5 = OfficialTree(1, 256, 512, 2, level_root=True)
        self.fc = nn.Conv2d(512, 1000, 1)


class OfficialDCN(nn.Module):
    """DCNv2's ``DCN``: ``conv_offset_mask`` -> (o1, o2, mask logits), offset = cat(o1, o2)."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3) * 0.1)
        self.bias = nn.Parameter(torch.randn(out_channels) * 0.1)
        self.conv_offset_mask = nn.Conv2d(in_channels, 27, 3, 1, 1)

    def forward(self, x):
        from torchvision.ops import deform_conv2d
        o1, o2, mask = torch.chunk(self.conv_offset_mask(x), 3, dim=1)
        return deform_conv2d(x, torch.cat((o1, o2), dim=1), self.weight, self.bias, padding=1,
                             mask=mask.sigmoid())


class OfficialDeformConv(nn.Module):

    def __init__(self, chi, cho, use_dcn):
        super().__init__()
        self.actf = nn.Sequential(nn.BatchNorm2d(cho), nn.ReLU(inplace=True))
        self.conv = OfficialDCN(chi, cho) if use_dcn else nn.Conv2d(chi, cho, 3, 1, 1)

    def forward(self, x):
        return self.actf(self.conv(x))


class OfficialIDAUp(nn.Module):

    def __init__(self, o, channels, up_f, use_dcn):
        super().__init__()
        for i in range(1, len(channels)):
            f = int(up_f[i])
            setattr(self, f'proj_{i}', OfficialDeformConv(channels[i], o, use_dcn))
            setattr(self, f'up_{i}',
                    nn.ConvTranspose2d(o, o, f * 2, stride=f, padding=f // 2, groups=o, bias=False))
            setattr(self, f'node_{i}', OfficialDeformConv(o, o, use_dcn))

    def forward(self, layers, startp, endp):
        for i in range(startp + 1, endp):
            up = getattr(self, f'up_{i - startp}')
            proj = getattr(self, f'proj_{i - startp}')
            layers[i] = up(proj(layers[i]))
            layers[i] = getattr(self, f'node_{i - startp}')(layers[i] + layers[i - 1])


class OfficialDLAUp(nn.Module):

    def __init__(self, channels, scales, use_dcn):
        super().__init__()
        in_channels = list(channels)
        scales = list(scales)
        for i in range(len(channels) - 1):
            j = -i - 2
            setattr(
                self, f'ida_{i}',
                OfficialIDAUp(channels[j], in_channels[j:], [s // scales[j] for s in scales[j:]],
                              use_dcn))
            scales[j + 1:] = [scales[j]] * len(scales[j + 1:])
            in_channels[j + 1:] = [channels[j]] * len(in_channels[j + 1:])

    def forward(self, layers, startp):
        out = [layers[-1]]
        for i in range(len(layers) - startp - 1):
            getattr(self, f'ida_{i}')(layers, len(layers) - i - 2, len(layers))
            out.insert(0, layers[-1])
        return out


class OfficialDLASeg(nn.Module):
    """CenterNet's DLASeg with down_ratio 4, last_level 5, head_conv 256."""

    def __init__(self, heads, use_dcn=True, with_base=True):
        super().__init__()
        channels = [16, 32, 64, 128, 256, 512]
        if with_base:
            self.base = OfficialDLA34()
        self.dla_up = OfficialDLAUp(channels[2:], [1, 2, 4, 8], use_dcn)
        self.ida_up = OfficialIDAUp(64, channels[2:5], [1, 2, 4], use_dcn)
        for head, classes in heads.items():
            setattr(
                self, head,
                nn.Sequential(
                    nn.Conv2d(64, 256, 3, padding=1), nn.ReLU(inplace=True),
                    nn.Conv2d(256, classes, 1)))

    def up_path(self, levels):
        """DLASeg.forward after ``self.base``: the stride-4 map the heads see."""
        x = self.dla_up(list(levels), 2)
        y = [x[i].clone() for i in range(3)]
        self.ida_up(y, 0, len(y))
        return y[-1]


# ----------------------------------------------------------- CenterNet exkp (names + forward)


class OfficialConvolution(nn.Module):

    def __init__(self, k, inp_dim, out_dim, stride=1, with_bn=True):
        super().__init__()
        self.conv = nn.Conv2d(inp_dim, out_dim, k, stride, (k - 1) // 2, bias=not with_bn)
        self.bn = nn.BatchNorm2d(out_dim) if with_bn else nn.Sequential()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class OfficialResidual(nn.Module):

    def __init__(self, inp_dim, out_dim, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inp_dim, out_dim, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_dim)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_dim, out_dim, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_dim)
        self.skip = nn.Sequential(
            nn.Conv2d(inp_dim, out_dim, 1, stride, bias=False),
            nn.BatchNorm2d(out_dim)) if stride != 1 or inp_dim != out_dim else nn.Sequential()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu(y + self.skip(x))


def _residuals(dims):
    """Sequential of residuals through consecutive (in, out, stride) triples."""
    return nn.Sequential(*[OfficialResidual(i, o, s) for i, o, s in dims])


class OfficialKpModule(nn.Module):

    def __init__(self, n, dims, modules):
        super().__init__()
        cur, nxt = dims[0], dims[1]
        self.up1 = _residuals([(cur, cur, 1)] * modules[0])
        self.max1 = nn.Sequential()
        self.low1 = _residuals([(cur, nxt, 2)] + [(nxt, nxt, 1)] * (modules[0] - 1))
        self.low2 = OfficialKpModule(n - 1, dims[1:], modules[1:]) if n > 1 else _residuals(
            [(nxt, nxt, 1)] * modules[1])
        self.low3 = _residuals([(nxt, nxt, 1)] * (modules[0] - 1) + [(nxt, cur, 1)])
        self.up2 = nn.Upsample(scale_factor=2)

    def forward(self, x):
        return self.up1(x) + self.up2(self.low3(self.low2(self.low1(self.max1(x)))))


class OfficialExkp(nn.Module):
    """CenterNet's ``exkp`` (HourglassNet) with ``heads`` on every stack."""

    def __init__(self, n, nstack, dims, modules, heads, cnv_dim):
        super().__init__()
        self.nstack = nstack
        self.heads = heads
        curr_dim = dims[0]
        self.pre = nn.Sequential(
            OfficialConvolution(7, 3, curr_dim // 2, stride=2),
            OfficialResidual(curr_dim // 2, curr_dim, stride=2))
        self.kps = nn.ModuleList([OfficialKpModule(n, dims, modules) for _ in range(nstack)])
        self.cnvs = nn.ModuleList(
            [OfficialConvolution(3, curr_dim, cnv_dim) for _ in range(nstack)])
        self.inters = nn.ModuleList(
            [OfficialResidual(curr_dim, curr_dim) for _ in range(nstack - 1)])
        self.inters_ = nn.ModuleList([
            nn.Sequential(nn.Conv2d(curr_dim, curr_dim, 1, bias=False), nn.BatchNorm2d(curr_dim))
            for _ in range(nstack - 1)
        ])
        self.cnvs_ = nn.ModuleList([
            nn.Sequential(nn.Conv2d(cnv_dim, curr_dim, 1, bias=False), nn.BatchNorm2d(curr_dim))
            for _ in range(nstack - 1)
        ])
        for head, classes in heads.items():
            setattr(
                self, head,
                nn.ModuleList([
                    nn.Sequential(
                        OfficialConvolution(3, cnv_dim, curr_dim, with_bn=False),
                        nn.Conv2d(curr_dim, classes, 1)) for _ in range(nstack)
                ]))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, image):
        inter = self.pre(image)
        outs = []
        for ind in range(self.nstack):
            cnv = self.cnvs[ind](self.kps[ind](inter))
            outs.append({head: getattr(self, head)[ind](cnv) for head in self.heads})
            if ind < self.nstack - 1:
                inter = self.inters_[ind](inter) + self.cnvs_[ind](cnv)
                inter = self.inters[ind](self.relu(inter))
        return outs


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random values everywhere (BN statistics included), so wrong mappings show."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith('num_batches_tracked'):
                continue
            values = torch.rand(tensor.shape, generator=generator)
            if name.endswith('running_var'):
                tensor.copy_(0.5 + values)
            else:
                tensor.copy_((values - 0.5) * 0.4)
    return module


# ---------------------------------------------------------------------------- key coverage


def _full_size_shapes(arch):
    config = REPO / converter.DEFAULT_CONFIGS[arch]
    return converter.deepmark_model_shapes(str(config))


def _official_full_size(arch, heads):
    with torch.device('meta'):
        if arch == 'dla34':
            return OfficialDLASeg(heads, use_dcn=True)
        return OfficialExkp(
            5, 2, [256, 256, 384, 384, 384, 512], [2, 2, 2, 2, 2, 4], heads, cnv_dim=256)


def _unused_dla_projections():
    keys = []
    for level in (3, 4):
        keys += [f'base.level{level}.project.0.weight'] + [
            f'base.level{level}.project.1.{n}'
            for n in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
        ]
    return keys


@pytest.mark.parametrize('arch', ['dla34', 'hourglass104'])
@pytest.mark.parametrize('heads', [COCO_HEADS, MULTI_POSE_HEADS], ids=['ctdet', 'multi_pose'])
def test_full_size_every_tensor_lands(arch, heads):
    target_shapes, use_dcn = _full_size_shapes(arch)
    assert use_dcn == (arch == 'dla34')
    official = _official_full_size(arch, heads)
    source = {'module.' + k: v for k, v in official.state_dict().items()}
    result = converter.convert_centernet_state_dict(source, arch, target_shapes, use_dcn)

    stacks = range(1) if arch == 'dla34' else range(2)
    final = '2' if arch == 'dla34' else '1'
    stack_prefix = (lambda s: '') if arch == 'dla34' else (lambda s: f'{s}.')
    mismatched_heads = [h for h, c in heads.items() if c != DEEPMARK_HEADS[h]]
    expected_skips = {
        f'{h}.{stack_prefix(s)}{final}.{p}'
        for h in mismatched_heads
        for s in stacks
        for p in ('weight', 'bias')
    }
    if arch == 'dla34':
        expected_skips |= {'base.fc.weight', 'base.fc.bias'} | set(_unused_dla_projections())
    assert {k for k, _ in result.skipped} == expected_skips
    assert all(reason for _, reason in result.skipped)

    # kept tensors keep their shapes, and nothing in the source is left unaccounted for
    for target, tensor in result.state_dict.items():
        assert tuple(target_shapes[target]) == tuple(tensor.shape), target
    assert len(result.state_dict) + len(result.skipped) == len(source)

    # every non-head DeepMark tensor is filled; the unfilled head tensors are exactly the
    # mismatched output layers and the branches CenterNet does not have
    unfilled = set(target_shapes) - set(result.state_dict)
    assert not [k for k in unfilled if not k.startswith('bbox_head.')]
    branches_present = {converter.HEAD_BRANCHES[h] for h in heads}
    expected_unfilled = set()
    for key in target_shapes:
        if not key.startswith('bbox_head.'):
            continue
        branch, stack, layer = key.split('.')[1:4]
        if branch not in branches_present:
            expected_unfilled.add(key)
        else:
            head = next(h for h, b in converter.HEAD_BRANCHES.items() if b == branch)
            if head in mismatched_heads and layer == '2':
                expected_unfilled.add(key)
    assert unfilled == expected_unfilled


def test_key_mapping_examples():
    dla = converter.map_dla34_key
    assert dla('base.level3.tree2.root.bn.running_var').target == (
        'backbone.trunk.level3.tree2.root.bn.running_var')
    assert dla('dla_up.ida_2.proj_3.conv.conv_offset_mask.weight').target == (
        'neck.dla_up.ida_stages.2.projections.2.conv.conv_offset.weight')
    assert dla('dla_up.ida_0.up_1.weight').target == 'neck.dla_up.ida_stages.0.upsamples.0.weight'
    assert dla('ida_up.node_2.actf.0.running_mean').target == 'neck.ida_up.nodes.1.bn.running_mean'
    assert dla('hm_hp.0.bias').target == 'bbox_head.kpt_heatmap_head.0.0.bias'
    assert dla('hp_offset.2.weight').target == 'bbox_head.kpt_offset_head.0.2.weight'
    dropped = dla('ida_up.proj_1.conv.conv_offset_mask.bias', use_dcn=False)
    assert dropped.target is None and 'use_dcn=False' in dropped.reason
    hg = converter.map_hourglass104_key
    assert hg('pre.1.skip.1.weight').target == 'backbone.stem.1.0.downsample.1.weight'
    assert hg('kps.1.low2.low2.low2.low2.low2.3.bn2.bias').target == (
        'backbone.hourglass_modules.1.low2.low2.low2.low2.low2.3.bn2.bias')
    assert hg('kps.0.low1.0.skip.0.weight').target == (
        'backbone.hourglass_modules.0.low1.0.downsample.0.weight')
    assert hg('inters_.0.1.running_var').target == 'backbone.conv1x1s.0.bn.running_var'
    assert hg('cnvs_.0.0.weight').target == 'backbone.remap_convs.0.conv.weight'
    assert hg('hm.1.0.conv.bias').target == 'bbox_head.heatmap_head.1.0.bias'
    assert hg('reg.0.1.weight').target == 'bbox_head.offset_head.0.2.weight'


@pytest.mark.parametrize('arch,key', [('dla34', 'kps.0.up1.0.conv1.weight'),
                                      ('hourglass104', 'base.level0.0.weight'),
                                      ('dla34', 'ida_up.proj_0.conv.weight'),
                                      ('hourglass104', 'hm.0.2.weight')])
def test_foreign_keys_are_errors(arch, key):
    with pytest.raises(converter.UnknownKeyError, match='wrong --arch|numbered from 1'):
        converter.convert_centernet_state_dict({key: torch.zeros(1)}, arch)


def test_unknown_arch_is_an_error():
    with pytest.raises(ValueError, match='arch must be one of'):
        converter.convert_centernet_state_dict({}, 'resnet18')


# ------------------------------------------------------------- converted weights compute


@pytest.mark.parametrize('use_dcn', [False, True])
def test_converted_dla_up_path_matches_official_forward(use_dcn):
    from deepmark_mm.models.necks import DLAUpNeck
    official = randomize(OfficialDLASeg({}, use_dcn=use_dcn, with_base=False)).eval()
    neck = DLAUpNeck(use_dcn=use_dcn).eval()
    target_shapes = {f'neck.{k}': v.shape for k, v in neck.state_dict().items()}
    result = converter.convert_centernet_state_dict(official.state_dict(), 'dla34', target_shapes,
                                                    use_dcn)
    assert result.skipped == []
    assert set(result.state_dict) == set(target_shapes)
    neck.load_state_dict({k[len('neck.'):]: v for k, v in result.state_dict.items()})

    generator = torch.Generator().manual_seed(1)
    levels = [
        torch.randn(1, c, 64 // 2**k, 64 // 2**k, generator=generator)
        for k, c in enumerate((16, 32, 64, 128, 256, 512))
    ]
    with torch.no_grad():
        expected = official.up_path([t.clone() for t in levels])
        (ours, ) = neck(levels)
    assert ours.shape == (1, 64, 16, 16)
    assert torch.allclose(ours, expected, atol=1e-5)


def test_converted_hourglass_matches_official_forward():
    from mmdet.models.backbones import HourglassNet

    from deepmark_mm.models.dense_heads import DeepMarkHead
    dims, blocks = [16, 16, 24], [2, 1, 2]
    official = randomize(OfficialExkp(2, 2, dims, blocks, DEEPMARK_HEADS, cnv_dim=16)).eval()
    backbone = HourglassNet(
        downsample_times=2, num_stacks=2, stage_channels=dims, stage_blocks=blocks,
        feat_channel=16).eval()
    head = DeepMarkHead(in_channels=16, feat_channels=16, num_feat_levels=2).eval()
    target = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    target.update({f'bbox_head.{k}': v for k, v in head.state_dict().items()})
    result = converter.convert_centernet_state_dict(official.state_dict(), 'hourglass104', {
        k: v.shape
        for k, v in target.items()
    })
    assert result.skipped == []
    assert set(result.state_dict) == set(target)
    backbone.load_state_dict({
        k[len('backbone.'):]: v
        for k, v in result.state_dict.items() if k.startswith('backbone.')
    })
    head.load_state_dict({
        k[len('bbox_head.'):]: v
        for k, v in result.state_dict.items() if k.startswith('bbox_head.')
    })

    image = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = official(image)
        ours = head(backbone(image))
    order = ['hm', 'wh', 'reg', 'hps', 'hm_hp', 'hp_offset']
    for branch_index, name in enumerate(order):
        for stack in range(2):
            assert ours[branch_index][stack].shape == expected[stack][name].shape
            assert torch.allclose(
                ours[branch_index][stack], expected[stack][name], atol=1e-4), (name, stack)


# ------------------------------------------------------------------------------------ CLI


def test_cli_writes_a_load_from_checkpoint(tmp_path, monkeypatch, capsys):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    import deepmark_mm  # noqa: F401

    official = randomize(OfficialDLASeg(COCO_HEADS, use_dcn=True))
    src, dst = tmp_path / 'ctdet_coco_dla_2x.pth', tmp_path / 'out' / 'deepmark.pth'
    torch.save(
        {
            'epoch': 230,
            'state_dict': {
                'module.' + k: v
                for k, v in official.state_dict().items()
            }
        }, src)
    monkeypatch.setattr(
        sys, 'argv', ['centernet_to_deepmark.py',
                      str(src), str(dst), '--arch', 'dla34'])
    converter.main()
    printed = capsys.readouterr().out
    assert 'skipped hm.2.weight: shape (80, 256, 1, 1) != DeepMark' in printed
    assert 'skipped base.fc.weight' in printed

    saved = torch.load(dst, weights_only=True)
    assert saved['meta']['arch'] == 'dla34'
    cfg = Config.fromfile(str(REPO / converter.DEFAULT_CONFIGS['dla34']))
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(dst), map_location='cpu', strict=False)
    state = model.state_dict()
    official_state = official.state_dict()
    assert torch.equal(state['backbone.trunk.level5.root.conv.weight'],
                       official_state['base.level5.root.conv.weight'])
    assert torch.equal(state['neck.dla_up.ida_stages.1.nodes.1.conv.conv_offset.bias'],
                       official_state['dla_up.ida_1.node_2.conv.conv_offset_mask.bias'])
    assert torch.equal(state['bbox_head.wh_head.0.2.weight'], official_state['wh.2.weight'])
    assert state['bbox_head.heatmap_head.0.2.weight'].shape[0] == 13


def test_missing_source_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        converter.load_centernet_state_dict(str(tmp_path / 'nothing.pth'))
