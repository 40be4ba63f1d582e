# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Convert a DeepFashion2 split between its per-image layout and the official COCO json.

    # per-image (SRC_DIR/image/*.jpg + SRC_DIR/annos/*.json) -> COCO, as the official converter
    python tools/dataset_converters/deepfashion2_to_coco.py data/deepfashion2/train \
        data/deepfashion2/train/deepfashion2_train.json --workers 8

    # COCO -> per-image annotation files (OUT_DIR/annos/), linking the images into OUT_DIR/image/
    python tools/dataset_converters/deepfashion2_to_coco.py --reverse COCO.json OUT_DIR \
        --image-dir data/deepfashion2/train/image

``DeepFashion2Dataset`` reads the COCO json; the per-image readers here check every file and item
and name the bad ones.
"""
import argparse
import json
import os
import os.path as osp
import sys
from functools import partial
from multiprocessing import get_context
from typing import Any, Dict, List, NoReturn, Optional, Tuple, Union

import numpy as np

from deepmark_mm.datasets.keypoint_coco_dataset import coco_layout_samples, load_json_file
from deepmark_mm.datasets.deepfashion2_format import (DeepFashion2FormatError, check_box,
                                                      check_category_id, check_fields,
                                                      check_keypoint_triplets,
                                                      coco_annotation_to_instance)
from deepmark_mm.datasets.deepfashion2_metainfo import (CATEGORY_NAMES, CLASSES, KEYPOINT_SLICES,
                                                        NUM_KEYPOINTS)

IMAGE_DIR = 'image'
ANNO_DIR = 'annos'
IMAGE_SUFFIX = '.jpg'

#: (image record or None, COCO annotations without ids, problems found when skipping)
PerImageSample = Tuple[Optional[Dict], List[Dict], List[str]]


def read_image_size(path: str, where: str) -> Tuple[int, int]:
    """(width, height) from the image header; a missing or unreadable image raises
    :class:`DeepFashion2FormatError` starting with ``where``."""
    from PIL import Image, UnidentifiedImageError
    if not osp.isfile(path):
        raise DeepFashion2FormatError(f'{where}: image file not found: {path}')
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError) as error:
        raise DeepFashion2FormatError(f'{where}: unreadable image {path} ({error})') from None


def image_id_from_stem(path: str) -> int:
    """int(file stem) of ``NNNNNN.json`` / ``NNNNNN.jpg``."""
    stem = osp.splitext(osp.basename(path))[0]
    if not stem.isdigit():
        raise DeepFashion2FormatError(
            f'{path}: file name must be a number (DeepFashion2 names files NNNNNN.json)')
    return int(stem)


def list_annotation_files(anno_dir: str) -> List[str]:
    """``annos/*.json`` sorted by numeric stem (:class:`DeepFashion2FormatError` if missing)."""
    if not osp.isdir(anno_dir):
        raise DeepFashion2FormatError(f'{anno_dir}: annotation folder not found')
    names = [name for name in os.listdir(anno_dir) if name.endswith('.json')]
    paths = [osp.join(anno_dir, name) for name in names]
    return sorted(paths, key=lambda path: (image_id_from_stem(path), path))


def sorted_item_keys(anno: Dict, where: str) -> List[str]:
    """``item1, item2, ...`` of a per-image annotation (file ``where``) in numeric order."""
    keys = [key for key in anno if key.startswith('item')]
    numbers = []
    for key in keys:
        suffix = key[4:]
        if not suffix.isdigit():
            raise DeepFashion2FormatError(
                f'{where}: unexpected key "{key}" (items are named item1, item2, ...)')
        numbers.append(int(suffix))
    return [key for _, key in sorted(zip(numbers, keys))]


def raw_item_to_coco_annotation(item: Dict, where: str, image_id: int, annotation_id: int,
                                pair_id: Any = None) -> Dict:
    """One ``itemK`` (raw: ``bounding_box`` xyxy, ``landmarks`` [x, y, v] * n; errors name
    ``where``, ``'file: itemK'``) as the official converter's COCO annotation (``bbox`` xywh,
    882 ``keypoints``)."""
    check_fields(item, ('category_id', 'bounding_box', 'landmarks'), where, 'item')
    category_id = check_category_id(item['category_id'], where)
    start, end = KEYPOINT_SLICES[category_id - 1]
    check_box(item['bounding_box'], where)
    triplets = check_keypoint_triplets(item['landmarks'], end - start, where)
    x1, y1, x2, y2 = item['bounding_box']
    width, height = x2 - x1, y2 - y1
    keypoints = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
    keypoints[start:end] = triplets
    annotation = dict(area=width * height, bbox=[x1, y1, width, height], category_id=category_id,
                      id=annotation_id, pair_id=pair_id, image_id=image_id, iscrowd=0,
                      style=item.get('style', 0), num_keypoints=int((triplets[:, 2] > 0).sum()),
                      keypoints=keypoints.reshape(-1).tolist())
    if 'segmentation' in item:
        annotation['segmentation'] = item['segmentation']
    return annotation


def coco_image_record(image_id: int, file_name: str, width: int, height: int) -> Dict:
    """An ``images`` entry as the official converter writes it."""
    return dict(coco_url='', date_captured='', file_name=file_name, flickr_url='', id=image_id,
                license=0, width=width, height=height)


def read_per_image_sample(anno_path: str, image_dir: str,
                          skip_invalid: bool = False) -> PerImageSample:
    """(image record | None if unusable, COCO annotations with ``id`` 0, problems) of one
    ``annos/NNNNNN.json`` and ``image_dir/NNNNNN.jpg``; ``skip_invalid`` records bad
    items / files in the problems instead of raising."""
    problems: List[str] = []
    try:
        image_id = image_id_from_stem(anno_path)
        anno = load_json_file(anno_path)
        check_fields(anno, (), anno_path, 'top level')
        item_keys = sorted_item_keys(anno, anno_path)
        file_name = osp.splitext(osp.basename(anno_path))[0] + IMAGE_SUFFIX
        width, height = read_image_size(osp.join(image_dir, file_name), f'{anno_path}: image')
    except DeepFashion2FormatError as error:
        if not skip_invalid:
            raise
        return None, [], [str(error)]
    annotations = []
    for key in item_keys:
        try:
            annotations.append(raw_item_to_coco_annotation(
                anno[key], f'{anno_path}: {key}', image_id, 0, pair_id=anno.get('pair_id')))
        except DeepFashion2FormatError as error:
            if not skip_invalid:
                raise
            problems.append(str(error))
    return coco_image_record(image_id, file_name, width, height), annotations, problems


def read_per_image_layout(src_dir: str,
                          workers: int = 0,
                          skip_invalid: bool = False,
                          progress: bool = False) -> List[PerImageSample]:
    """:func:`read_per_image_sample` of every ``src_dir/annos/`` file in numeric order,
    annotations numbered 1, 2, ...; ``workers`` > 0 reads in that many processes, ``progress``
    shows tqdm."""
    anno_paths = list_annotation_files(osp.join(src_dir, ANNO_DIR))
    read = partial(read_per_image_sample, image_dir=osp.join(src_dir, IMAGE_DIR),
                   skip_invalid=skip_invalid)
    if workers > 0:
        with get_context('fork').Pool(workers) as pool:
            iterator = pool.imap(read, anno_paths, chunksize=64)
            samples = list(_with_progress(iterator, len(anno_paths), progress))
    else:
        samples = [read(path) for path in _with_progress(anno_paths, len(anno_paths), progress)]
    next_id = 1
    for _, annotations, _ in samples:
        for annotation in annotations:
            annotation['id'] = next_id
            next_id += 1
    return samples


def _with_progress(iterable, total: int, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, total=total, unit='img', desc='DeepFashion2')


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
