#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Convert an official CenterNet checkpoint into a DeepMark ``load_from`` checkpoint.

DeepMark (paper, Sec. 4) starts from CenterNet's MS COCO models. This maps the official
checkpoints (``ctdet_coco_dla_2x.pth``, ``ctdet_coco_hg.pth``, ``multi_pose_dla_3x.pth``,
``multi_pose_hg_3x.pth``) onto deepmark_mm's modules:

=====================================  ==========================================================
CenterNet (DLA-34, ``DLASeg``)          deepmark_mm
=====================================  ==========================================================
``base.X``                             ``backbone.trunk.X`` (timm DLA-34, same names)
``dla_up.ida_I.{proj,up,node}_J.X``    ``neck.dla_up.ida_stages.I.{projections,upsamples,nodes}
                                       .(J-1).X``
``ida_up.{proj,up,node}_J.X``          ``neck.ida_up.{projections,upsamples,nodes}.(J-1).X``
``...conv.conv_offset_mask.X`` (DCN)   ``...conv.conv_offset.X`` (mmcv ModulatedDeformConv2dPack)
``...actf.0.X`` (BN of DeformConv)     ``...bn.X``
``HEAD.{0,2}.X``                       ``bbox_head.BRANCH.0.{0,2}.X``
=====================================  ==========================================================

=====================================  ==========================================================
CenterNet (Hourglass-104, ``exkp``)     deepmark_mm (mmdet ``HourglassNet``)
=====================================  ==========================================================
``pre.0.{conv,bn}.X``                  ``backbone.stem.0.{conv,bn}.X``
``pre.1.X``                            ``backbone.stem.1.0.X``
``kps.S.X``                            ``backbone.hourglass_modules.S.X``
``cnvs.S.{conv,bn}.X``                 ``backbone.out_convs.S.{conv,bn}.X``
``inters.S.X``                         ``backbone.inters.S.X``
``inters_.S.{0,1}.X``                  ``backbone.conv1x1s.S.{conv,bn}.X``
``cnvs_.S.{0,1}.X``                    ``backbone.remap_convs.S.{conv,bn}.X``
``...skip.{0,1}.X`` (residual)         ``...downsample.{0,1}.X`` (mmdet BasicBlock)
``HEAD.S.0.conv.X`` / ``HEAD.S.1.X``   ``bbox_head.BRANCH.S.0.X`` / ``bbox_head.BRANCH.S.2.X``
=====================================  ==========================================================

Heads: ``hm`` -> ``heatmap_head``, ``wh`` -> ``wh_head``, ``reg`` -> ``offset_head``, and for
``multi_pose`` checkpoints ``hps`` -> ``kpt_reg_head``, ``hm_hp`` -> ``kpt_heatmap_head``,
``hp_offset`` -> ``kpt_offset_head``. A leading ``module.`` is stripped.

Dropped, each printed with its reason: tensors whose shape differs from the DeepMark model (the
80-class ``hm`` and 17-joint ``hps``/``hm_hp`` output layers), DLA's ImageNet classifier
``base.fc`` and the projections of its multi-level trees (``base.level3.project``,
``base.level4.project``: built but never used by the official forward, absent in timm), and with
``--no-dcn`` the deformable offsets. The DeepMark tensors left without a source are listed too
(they keep their own initialisation).

Usage::

    python tools/model_converters/centernet_to_deepmark.py ctdet_coco_dla_2x.pth \
        checkpoints/deepmark_dla34_from_ctdet_coco.pth --arch dla34
    python tools/model_converters/centernet_to_deepmark.py ctdet_coco_hg.pth \
        checkpoints/deepmark_hg104_from_ctdet_coco.pth --arch hourglass104

then train from it with ``load_from`` and ``load_partial=True`` (the checkpoint holds no DeepMark
output layers: they keep their initialisation; without the flag the runner refuses it)::

    python tools/train.py configs/deepmark_dla34_512.py \
        --cfg-options load_from=checkpoints/deepmark_dla34_from_ctdet_coco.pth load_partial=True

Shapes are checked against the model of ``--config`` (default: the arch's
``configs/_base_/models`` file), built on the ``meta`` device, so no memory is spent on it.
"""
import argparse
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import torch

ARCHS = ('dla34', 'hourglass104')

#: CenterNet head name -> DeepMarkHead branch.
HEAD_BRANCHES: Dict[str, str] = {
    'hm': 'heatmap_head',
    'wh': 'wh_head',
    'reg': 'offset_head',
    'hps': 'kpt_reg_head',
    'hm_hp': 'kpt_heatmap_head',
    'hp_offset': 'kpt_offset_head',
}
_HEAD_ALTERNATION = '|'.join(sorted(HEAD_BRANCHES, key=len, reverse=True))

#: DLA-34 levels built as two-level trees: their top ``project`` is unused (and absent in timm).
DLA34_MULTI_LEVEL_TREES = (3, 4)

#: IDAUp parts of CenterNet -> DLAUpNeck's module lists.
IDA_PARTS: Dict[str, str] = {'proj': 'projections', 'up': 'upsamples', 'node': 'nodes'}

DEFAULT_CONFIGS: Dict[str, str] = {
    'dla34': osp.join('configs', '_base_', 'models', 'deepmark_dla34.py'),
    'hourglass104': osp.join('configs', '_base_', 'models', 'deepmark_hourglass104.py'),
}


class UnknownKeyError(KeyError):
    """A checkpoint key that is not part of the CenterNet architecture being converted."""


class KeyMapping(NamedTuple):
    """Where one source tensor goes: ``target`` or, when ``target`` is None, why it is dropped."""
    target: Optional[str]
    reason: str = ''


class ConversionResult(NamedTuple):
    """Output of :func:`convert_centernet_state_dict`.

    Attributes:
        state_dict (OrderedDict): DeepMark key -> tensor.
        skipped (list[tuple[str, str]]): (source key, reason) of every dropped tensor.
        mapping (dict[str, str]): source key -> DeepMark key of every kept tensor.
    """
    state_dict: 'OrderedDict[str, torch.Tensor]'
    skipped: List[Tuple[str, str]]
    mapping: Dict[str, str]


def strip_module_prefix(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Drop DataParallel's leading ``module.`` from every key."""
    return OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())


def _ida_part(part: str, index: str, rest: str, use_dcn: bool) -> KeyMapping:
    """``{proj,up,node}_J.rest`` of a CenterNet IDAUp -> ``{projections,...}.(J-1).rest'``."""
    position = int(index) - 1
    if position < 0:
        raise UnknownKeyError(f'IDAUp parts are numbered from 1, got {part}_{index}')
    if part != 'up':
        if rest.startswith('actf.0.'):
            rest = 'bn.' + rest[len('actf.0.'):]
        elif rest.startswith('conv.conv_offset_mask.'):
            if not use_dcn:
                return KeyMapping(
                    None, 'deformable offsets/masks: the target neck uses plain '
                    'convs (use_dcn=False)')
            rest = 'conv.conv_offset.' + rest[len('conv.conv_offset_mask.'):]
        elif rest not in ('conv.weight', 'conv.bias'):
            raise UnknownKeyError(f'unexpected DeformConv tensor {part}_{index}.{rest}')
    elif rest != 'weight':
        raise UnknownKeyError(f'unexpected upsampling tensor up_{index}.{rest}')
    return KeyMapping(f'{IDA_PARTS[part]}.{position}.{rest}')


def map_dla34_key(key: str, use_dcn: bool = True) -> KeyMapping:
    """Map one CenterNet ``DLASeg`` (DLA-34) key, ``module.`` already stripped.

    Args:
        key (str): CenterNet key, e.g. ``'dla_up.ida_0.proj_1.conv.conv_offset_mask.weight'``.
        use_dcn (bool): Whether the target neck has deformable convs.

    Returns:
        KeyMapping: The DeepMark key, or None and the reason it is dropped.

    Raises:
        UnknownKeyError: ``key`` is not a CenterNet DLA-34 key.
    """
    match = re.fullmatch(r'base\.(.+)', key)
    if match:
        trunk_key = match.group(1)
        if trunk_key.startswith('fc.'):
            return KeyMapping(None, 'ImageNet classifier of the DLA trunk, unused by CenterNet')
        level = re.match(r'level(\d+)\.project\.', trunk_key)
        if level and int(level.group(1)) in DLA34_MULTI_LEVEL_TREES:
            return KeyMapping(
                None, 'projection of a multi-level DLA tree, never used by the '
                'official forward (timm does not build it)')
        return KeyMapping('backbone.trunk.' + trunk_key)
    match = re.fullmatch(r'dla_up\.ida_(\d+)\.(proj|up|node)_(\d+)\.(.+)', key)
    if match:
        stage, part, index, rest = match.groups()
        mapped = _ida_part(part, index, rest, use_dcn)
        if mapped.target is None:
            return mapped
        return KeyMapping(f'neck.dla_up.ida_stages.{stage}.{mapped.target}')
    match = re.fullmatch(r'ida_up\.(proj|up|node)_(\d+)\.(.+)', key)
    if match:
        mapped = _ida_part(*match.groups(), use_dcn)
        if mapped.target is None:
            return mapped
        return KeyMapping(f'neck.ida_up.{mapped.target}')
    match = re.fullmatch(rf'({_HEAD_ALTERNATION})\.([02])\.(weight|bias)', key)
    if match:
        head, layer, name = match.groups()
        return KeyMapping(f'bbox_head.{HEAD_BRANCHES[head]}.0.{layer}.{name}')
    raise UnknownKeyError(f'{key!r} is not a CenterNet DLA-34 (DLASeg) key; wrong --arch?')


def _residual_path(path: str) -> str:
    """CenterNet ``residual`` -> mmdet ``BasicBlock`` naming (``skip`` -> ``downsample``)."""
    return re.sub(r'(^|\.)skip\.', r'\1downsample.', path)


def map_hourglass104_key(key: str, use_dcn: bool = True) -> KeyMapping:
    """Map one CenterNet ``HourglassNet`` (``exkp``) key, ``module.`` already stripped.

    Args:
        key (str): CenterNet key, e.g. ``'kps.0.low2.up1.1.skip.0.weight'``.
        use_dcn (bool): Unused (Hourglass has no deformable convs), for a uniform signature.

    Returns:
        KeyMapping: The DeepMark key, or None and the reason it is dropped.

    Raises:
        UnknownKeyError: ``key`` is not a CenterNet Hourglass key.
    """
    del use_dcn
    rules: List[Tuple[str, Callable[[re.Match], str]]] = [
        (r'pre\.0\.((?:conv|bn)\..+)', lambda m: f'backbone.stem.0.{m.group(1)}'),
        (r'pre\.1\.(.+)', lambda m: f'backbone.stem.1.0.{_residual_path(m.group(1))}'),
        (r'kps\.(\d+)\.(.+)',
         lambda m: f'backbone.hourglass_modules.{m.group(1)}.{_residual_path(m.group(2))}'),
        (r'cnvs\.(\d+)\.((?:conv|bn)\..+)',
         lambda m: f'backbone.out_convs.{m.group(1)}.{m.group(2)}'),
        (r'inters\.(\d+)\.(.+)',
         lambda m: f'backbone.inters.{m.group(1)}.{_residual_path(m.group(2))}'),
        (r'inters_\.(\d+)\.([01])\.(.+)',
         lambda m: f'backbone.conv1x1s.{m.group(1)}.{("conv", "bn")[int(m.group(2))]}.{m.group(3)}'
         ),
        (r'cnvs_\.(\d+)\.([01])\.(.+)', lambda m:
         f'backbone.remap_convs.{m.group(1)}.{("conv", "bn")[int(m.group(2))]}.{m.group(3)}'),
        (rf'({_HEAD_ALTERNATION})\.(\d+)\.0\.conv\.(weight|bias)',
         lambda m: f'bbox_head.{HEAD_BRANCHES[m.group(1)]}.{m.group(2)}.0.{m.group(3)}'),
        (rf'({_HEAD_ALTERNATION})\.(\d+)\.1\.(weight|bias)',
         lambda m: f'bbox_head.{HEAD_BRANCHES[m.group(1)]}.{m.group(2)}.2.{m.group(3)}'),
    ]
    for pattern, target in rules:
        match = re.fullmatch(pattern, key)
        if match:
            return KeyMapping(target(match))
    raise UnknownKeyError(f'{key!r} is not a CenterNet Hourglass-104 (exkp) key; wrong --arch?')


KEY_MAPPERS: Dict[str, Callable[..., KeyMapping]] = {
    'dla34': map_dla34_key,
    'hourglass104': map_hourglass104_key,
}


def convert_centernet_state_dict(state_dict: Dict[str, torch.Tensor],
                                 arch: str,
                                 target_shapes: Optional[Dict[str, torch.Size]] = None,
                                 use_dcn: bool = True) -> ConversionResult:
    """Rename a CenterNet state dict to deepmark_mm keys and drop what cannot be loaded.

    Args:
        state_dict (dict[str, Tensor]): CenterNet ``state_dict`` (``module.`` prefix allowed).
        arch (str): ``'dla34'`` or ``'hourglass104'``.
        target_shapes (dict[str, torch.Size], optional): Key -> shape of the DeepMark model.
            When given, tensors without a target key or with another shape are dropped.
        use_dcn (bool): Whether the DLA neck has deformable convs (else offsets are dropped).

    Returns:
        ConversionResult: Converted tensors, the dropped ones with reasons, and the key mapping.

    Raises:
        ValueError: Unknown ``arch`` or two source keys mapping to the same target.
        UnknownKeyError: A key that does not belong to the CenterNet ``arch`` network.
    """
    if arch not in KEY_MAPPERS:
        raise ValueError(f'arch must be one of {ARCHS}, got {arch!r}')
    mapper = KEY_MAPPERS[arch]
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    skipped: List[Tuple[str, str]] = []
    mapping: Dict[str, str] = {}
    for key, tensor in strip_module_prefix(state_dict).items():
        target, reason = mapper(key, use_dcn=use_dcn)
        if target is not None and target_shapes is not None:
            if target not in target_shapes:
                target, reason = None, f'no tensor {target} in the DeepMark model'
            elif tuple(target_shapes[target]) != tuple(tensor.shape):
                reason = (f'shape {tuple(tensor.shape)} != DeepMark {target} '
                          f'{tuple(target_shapes[target])}')
                target = None
        if target is None:
            skipped.append((key, reason))
            continue
        if target in converted:
            first = mapping_source(mapping, target)
            raise ValueError(f'two CenterNet tensors map to {target}: {first} and {key}')
        converted[target] = tensor
        mapping[key] = target
    return ConversionResult(converted, skipped, mapping)


def mapping_source(mapping: Dict[str, str], target: str) -> str:
    """The source key that was mapped to ``target``."""
    return next(source for source, mapped in mapping.items() if mapped == target)


def load_centernet_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read the ``state_dict`` of a CenterNet checkpoint (weights-only unless trusted).

    Raises:
        FileNotFoundError: Missing file.
        pickle.UnpicklingError: Beyond plain data and not trusted (names the file and the switch).
        KeyError: The file holds no tensors.
    """
    from deepmark_mm.utils import load_checkpoint_file
    if not osp.isfile(path):
        raise FileNotFoundError(f'CenterNet checkpoint {path} does not exist')
    checkpoint = load_checkpoint_file(path, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict) or not any(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise KeyError(f'{path} holds no state dict of tensors')
    return {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}


def repo_root() -> str:
    """The folder holding ``configs/`` (repository or ``deepmark_mm/.mim``)."""
    return osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def deepmark_model_shapes(config_path: str) -> Tuple[Dict[str, torch.Size], bool]:
    """Parameter/buffer shapes of the DeepMark model of a config, built on the meta device.

    Returns:
        tuple: (key -> shape, whether the model's neck uses deformable convs).
    """
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import deepmark_mm  # noqa: F401  (registers the plugin)

    cfg = Config.fromfile(config_path)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    neck = cfg.model.get('neck') or {}
    return shapes, bool(neck.get('use_dcn', False))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert an official CenterNet checkpoint to a DeepMark load_from file')
    parser.add_argument('src', help='CenterNet checkpoint (e.g. ctdet_coco_dla_2x.pth)')
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument('--arch', choices=ARCHS, required=True, help='CenterNet network')
    parser.add_argument(
        '--config',
        help='DeepMark config whose model fixes the target shapes (default: '
        'configs/_base_/models/deepmark_<arch>.py)')
    parser.add_argument(
        '--no-dcn',
        action='store_true',
        help='the target DLA neck has plain convs (use_dcn=False): drop the DCN offsets')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='allow full (code-executing) unpickling of SRC when weights-only loading fails; '
        'only for files you trust')
    parser.add_argument(
        '--no-shape-check',
        action='store_true',
        help='do not build the target model; keep every mapped tensor whatever its shape')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.trust_checkpoint:
        from deepmark_mm.utils import trust_checkpoint
        trust_checkpoint(args.src)
    state_dict = load_centernet_state_dict(args.src)
    target_shapes = None
    use_dcn = not args.no_dcn
    if not args.no_shape_check:
        config = args.config or osp.join(repo_root(), DEFAULT_CONFIGS[args.arch])
        target_shapes, config_dcn = deepmark_model_shapes(config)
        if args.arch == 'dla34':
            use_dcn = use_dcn and config_dcn
    result = convert_centernet_state_dict(state_dict, args.arch, target_shapes, use_dcn)
    print(f'{len(result.state_dict)} of {len(state_dict)} tensors converted, '
          f'{len(result.skipped)} skipped:')
    for key, reason in result.skipped:
        print(f'  skipped {key}: {reason}')
    if target_shapes is not None:
        unfilled = [
            k for k in target_shapes
            if k not in result.state_dict and not k.endswith('num_batches_tracked')
        ]
        print(f'{len(unfilled)} DeepMark tensors keep their initialisation:')
        for key in unfilled:
            print(f'  {key}')
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(
        dict(
            state_dict=result.state_dict,
            meta=dict(
                converted_from=osp.basename(args.src),
                arch=args.arch,
                skipped=[f'{k}: {r}' for k, r in result.skipped])), args.dst)
    print(f'saved {args.dst}; train from it with --cfg-options load_from={args.dst} '
          'load_partial=True (it holds no DeepMark output layers)')


if __name__ == '__main__':
    main()
