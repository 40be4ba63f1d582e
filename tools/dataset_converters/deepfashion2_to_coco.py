# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Convert a DeepFashion2 split between its per-image layout and the official COCO json.

    # per-image (SRC_DIR/image/*.jpg + SRC_DIR/annos/*.json) -> COCO, as the official converter
    python tools/dataset_converters/deepfashion2_to_coco.py data/deepfashion2/train \
        data/deepfashion2/train/deepfashion2_train.json --workers 8

    # COCO -> per-image annotation files (OUT_DIR/annos/), linking the images into OUT_DIR/image/
    python tools/dataset_converters/deepfashion2_to_coco.py --reverse COCO.json OUT_DIR \
        --image-dir data/deepfashion2/train/image

Training needs neither: ``DeepFashion2Dataset`` reads both layouts (and its readers, imported
here, check every file and item).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, NoReturn, Optional, Tuple, Union

from deepmark_mm.datasets.deepfashion2_dataset import (ANNO_DIR, IMAGE_DIR, coco_layout_samples,
                                                       load_json_file, read_per_image_layout)
from deepmark_mm.datasets.deepfashion2_format import (DeepFashion2FormatError,
                                                      coco_annotation_to_instance)
from deepmark_mm.datasets.deepfashion2_metainfo import (CATEGORY_NAMES, CLASSES, KEYPOINT_SLICES,
                                                        NUM_KEYPOINTS)


def _to_number(value: float) -> float:
    """Integral floats back to ``int`` (the raw DeepFashion2 files store integers)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def coco_annotation_to_raw_item(annotation: Dict, where: str = 'annotation') -> Dict:
    """Inverse of :func:`raw_item_to_coco_annotation` (validated; ``category_name`` added,
    ``segmentation``, ``scale``, ``occlusion``, ``zoom_in``, ``viewpoint`` copied when present)."""
    coco_annotation_to_instance(annotation, where)
    category_id = int(annotation['category_id'])
    start, end = KEYPOINT_SLICES[category_id - 1]
    x, y, w, h = annotation['bbox']
    raw = list(annotation['keypoints'])
    if len(raw) == 3 * NUM_KEYPOINTS:
        raw = raw[3 * start:3 * end]
    item = dict(category_id=category_id, category_name=CATEGORY_NAMES[category_id - 1],
                bounding_box=[_to_number(v) for v in (x, y, x + w, y + h)],
                landmarks=[_to_number(float(value)) for value in raw],
                style=annotation.get('style', 0))
    for key in ('segmentation', 'scale', 'occlusion', 'zoom_in', 'viewpoint'):
        if key in annotation:
            item[key] = annotation[key]
    return item


def coco_categories() -> List[Dict]:
    """The ``categories`` list of the official converter (ids 1..13, 294 numbered keypoints)."""
    names = [str(slot + 1) for slot in range(NUM_KEYPOINTS)]
    return [
        dict(id=label + 1, name=name, supercategory='clothes', keypoints=list(names), skeleton=[])
        for label, name in enumerate(CLASSES)
    ]


def _raise(error: DeepFashion2FormatError, whole_image: bool = False) -> NoReturn:
    raise error


def per_image_to_coco(src_dir: str,
                      workers: int = 0,
                      skip_invalid: bool = False,
                      progress: bool = False) -> Tuple[Dict, List[str]]:
    """A per-image split folder (``image/``, ``annos/``) as the official COCO dict, with the
    problems skipped (``skip_invalid``; see :func:`read_per_image_layout` for the rest)."""
    samples = read_per_image_layout(src_dir, workers, skip_invalid, progress)
    coco = dict(info={}, licenses=[], images=[], annotations=[], categories=coco_categories())
    problems: List[str] = []
    for image, annotations, sample_problems in samples:
        problems.extend(sample_problems)
        if image is not None:
            coco['images'].append(image)
            coco['annotations'].extend(annotations)
    return coco, problems


def coco_to_per_image(coco: Union[str, Dict],
                      out_dir: str,
                      image_dir: Optional[str] = None) -> int:
    """Write a COCO split (json path or dict) as ``out_dir/annos/NNNNNN.json`` (items in
    annotation-id order; the first bad record raises); with ``image_dir``, ``out_dir/image/``
    gets a symbolic link per image. Returns the number of files written."""
    where = coco if isinstance(coco, str) else 'coco'
    if isinstance(coco, str):
        coco = load_json_file(coco)
    samples = coco_layout_samples(coco, where, _raise)
    anno_dir = osp.join(out_dir, ANNO_DIR)
    os.makedirs(anno_dir, exist_ok=True)
    if image_dir is not None:
        os.makedirs(osp.join(out_dir, IMAGE_DIR), exist_ok=True)
    for sample in samples:
        image = sample['raw_img_info']
        stem = osp.splitext(image['file_name'])[0]
        annotations = sorted(sample['raw_ann_info'], key=lambda annotation: annotation['id'])
        anno: Dict = {}
        if 'source' in image:
            anno['source'] = image['source']
        if annotations:
            anno['pair_id'] = annotations[0].get('pair_id')
        for number, annotation in enumerate(annotations, start=1):
            anno[f'item{number}'] = coco_annotation_to_raw_item(
                annotation, f'{where}: annotation {annotation.get("id")}')
        with open(osp.join(anno_dir, stem + '.json'), 'w', encoding='utf-8') as file:
            json.dump(anno, file)
        if image_dir is not None:
            link = osp.join(out_dir, IMAGE_DIR, image['file_name'])
            if not osp.lexists(link):
                os.symlink(osp.abspath(osp.join(image_dir, image['file_name'])), link)
    return len(samples)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='split folder with image/ and annos/ (--reverse: COCO json)')
    parser.add_argument('dst', help='output COCO json (--reverse: output split folder)')
    parser.add_argument('--workers', type=int, default=0, help='reader processes')
    parser.add_argument('--skip-invalid', action='store_true',
                        help='skip bad items/files (listed on stderr) instead of stopping')
    parser.add_argument('--reverse', action='store_true', help='COCO json -> per-image files')
    parser.add_argument('--image-dir', default=None,
                        help='--reverse: folder of the images to link into DST/image/')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        if args.reverse:
            count = coco_to_per_image(args.src, args.dst, image_dir=args.image_dir)
            print(f'wrote {count} annotation files to {args.dst}/annos')
            return
        coco, problems = per_image_to_coco(
            args.src, workers=args.workers, skip_invalid=args.skip_invalid, progress=True)
    except DeepFashion2FormatError as error:
        sys.exit(f'error: {error}')
    for problem in problems:
        print(f'skipped: {problem}', file=sys.stderr)
    with open(args.dst, 'w', encoding='utf-8') as file:
        json.dump(coco, file)
    print(f'{len(coco["images"])} images, {len(coco["annotations"])} annotations -> {args.dst}'
          + (f' ({len(problems)} problems skipped)' if problems else ''))


if __name__ == '__main__':
    main()
