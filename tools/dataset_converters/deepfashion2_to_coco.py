# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Convert a DeepFashion2 split between its per-image layout and the official COCO json.

    # per-image (SRC_DIR/image/*.jpg + SRC_DIR/annos/*.json) -> COCO, as the official converter
    python tools/dataset_converters/deepfashion2_to_coco.py data/deepfashion2/train \
        data/deepfashion2/train/deepfashion2_train.json --workers 8

    # COCO -> per-image annotation files (OUT_DIR/annos/), linking the images into OUT_DIR/image/
    python tools/dataset_converters/deepfashion2_to_coco.py --reverse COCO.json OUT_DIR \
        --image-dir data/deepfashion2/train/image
"""
import argparse
import json
import sys

from deepmark_mm.datasets.deepfashion2_converter import coco_to_per_image, per_image_to_coco
from deepmark_mm.datasets.deepfashion2_format import DeepFashion2FormatError


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
