# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Convert the FLD lab photos' ``labels.csv`` to mmpose's FLD json layout, split by file name.

    python tools/dataset_converters/fld_lab_photos_to_coco.py \
        ../shared/fashion-landmarks/fld_lab_photos data/fld_lab_photos [--num-train 90]

Writes ``OUT_DIR/fld_{upper,lower}_{train,test}.json`` (mmpose's per-type files: one category
``fashion`` listing the type's landmarks, ``x, y, v`` per landmark; read by ``FLDDataset``). The
images stay where they are (``file_name`` is relative to the photo folder). Split: the first
``--num-train`` file names in sorted order train, the rest test. Per landmark: ``_in_pic = 0``
(a landmark the type does not have) is left out of the type's list; otherwise v = 2 when ``_vis``
is 1, else 1. Boxes are clipped to the image. Image ids are 1 + the rank of the file name, the
same in every file.
"""
import argparse
import csv
import json
import os
import os.path as osp
from typing import Dict, List

from deepfashion2_to_coco import read_image_size
from deepmark_mm.datasets.fld_dataset import FLD_TYPES

#: FLD types by ``category_type``: file name part, landmark names (FLD_TYPES', mmpose's order)
#: and the CSV's landmark codes in that order.
TYPES = {
    0: ('upper', FLD_TYPES[0][1], ('lc', 'rc', 'ls', 'rs', 'lh', 'rh')),
    1: ('lower', FLD_TYPES[1][1], ('lw', 'rw', 'lh', 'rh')),
}


def convert(photo_dir: str, out_dir: str, num_train: int = 90) -> Dict[str, Dict]:
    """Write the four json files; return them by file name.

    Args:
        photo_dir (str): Folder with the photos and ``labels.csv``.
        out_dir (str): Where the json files go.
        num_train (int): Training photos (the first in sorted file-name order).

    Returns:
        dict[str, dict]: ``fld_{type}_{split}.json`` -> its COCO dict.

    Raises:
        ValueError: Naming the CSV row whose type, image or landmark flags are invalid.
    """
    csv_path = osp.join(photo_dir, 'labels.csv')
    with open(csv_path, newline='') as file:
        rows = sorted(csv.DictReader(file), key=lambda row: row['image_name'])
    if not 0 < num_train < len(rows):
        raise ValueError(f'{csv_path}: --num-train must be in 1..{len(rows) - 1}, got {num_train}')
    files: Dict[str, Dict] = {}
    for rank, row in enumerate(rows):
        where = f'{csv_path}: {row["image_name"]}'
        kind = int(float(row['category_type']))
        if kind not in TYPES:
            raise ValueError(f'{where}: category_type {kind} is not 0 (upper) or 1 (lower)')
        type_name, keypoint_names, codes = TYPES[kind]
        split = 'train' if rank < num_train else 'test'
        coco = files.setdefault(f'fld_{type_name}_{split}.json', dict(
            images=[], annotations=[],
            categories=[dict(id=1, name='fashion', supercategory='person',
                             keypoints=list(keypoint_names), skeleton=[])]))
        width, height = read_image_size(osp.join(photo_dir, row['image_name']), where)
        keypoints: List[float] = []
        for code in codes:
            if float(row[f'lm_{code}_in_pic']) != 1:
                raise ValueError(f'{where}: landmark {code} of a {type_name}-body garment is not '
                                 'in the picture')
            keypoints += [float(row[f'lm_{code}_x']), float(row[f'lm_{code}_y']),
                          2.0 if float(row[f'lm_{code}_vis']) == 1 else 1.0]
        x1, y1 = max(float(row['x_1']), 0.0), max(float(row['y_1']), 0.0)
        x2, y2 = min(float(row['x_2']), float(width)), min(float(row['y_2']), float(height))
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f'{where}: box ({row["x_1"]}, {row["y_1"]}, {row["x_2"]}, '
                             f'{row["y_2"]}) has no area inside the {width}x{height} image')
        coco['images'].append(dict(id=rank + 1, file_name=row['image_name'], width=width,
                                   height=height))
        coco['annotations'].append(dict(
            id=rank + 1, image_id=rank + 1, category_id=1, iscrowd=0,
            bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1),
            keypoints=keypoints, num_keypoints=len(codes)))
    os.makedirs(out_dir, exist_ok=True)
    for name, coco in files.items():
        with open(osp.join(out_dir, name), 'w') as file:
            json.dump(coco, file)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('photo_dir', help='folder with the photos and labels.csv')
    parser.add_argument('out_dir', help='where the json files go')
    parser.add_argument('--num-train', type=int, default=90,
                        help='training photos: the first N file names in sorted order')
    args = parser.parse_args()
    for name, coco in sorted(convert(args.photo_dir, args.out_dir, args.num_train).items()):
        print(f'{osp.join(args.out_dir, name)}: {len(coco["images"])} photos')


if __name__ == '__main__':
    main()
