#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Detect garments and their landmarks on an image or a folder of images.

    python tools/demo/image_demo.py IMG_OR_DIR CONFIG CKPT [--tta] [--score-thr 0.3] \
        [--out-dir outputs] [--device cpu] [--no-draw] [--max-draw-size 2048]

Writes, under ``--out-dir``: ``vis/<image>`` (boxes, category names, landmarks coloured by score,
skeletons; at most ``--max-draw-size`` pixels on the longer side, none with ``--no-draw``),
``preds/<image stem>.json`` (readable: category, box, score and the category's own landmarks with
names) and ``results.{bbox,keypoints}.json`` (official DeepFashion2 result format).
``CKPT`` may also be an ``.onnx`` file from ``tools/deployment/export_onnx.py`` (raw maps or
``--postprocess``) or its int8 copy from ``tools/deployment/quantize_onnx.py`` (run with
onnxruntime; no ``--tta``).

Unreadable images (corrupt or missing files) are skipped with a warning; the others are processed
and every result file is written. The summary line counts both. Exit status: 1 when no image
could be processed, or with ``--strict`` when any was skipped; 0 otherwise.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='DeepMark image demo')
    parser.add_argument('inputs', help='image file or folder of images')
    parser.add_argument('config', help='config path or name (e.g. deepmark_dla34_512)')
    parser.add_argument('checkpoint', help='checkpoint (.pth) or exported network (.onnx)')
    parser.add_argument(
        '--tta',
        action='store_true',
        help="test-time augmentation (the config's tta_model, else flip fusion)")
    parser.add_argument(
        '--score-thr', type=float, default=0.3, help='keep garments scoring at least this')
    parser.add_argument(
        '--kpt-score-thr',
        type=float,
        default=None,
        help='landmarks scoring at least this are drawn in the garment colour')
    parser.add_argument('--out-dir', default='outputs', help='output folder')
    parser.add_argument('--device', default='cpu', help='torch device, e.g. cpu or cuda:0')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--show', action='store_true', help='show each drawing in a window')
    parser.add_argument('--no-draw', action='store_true', help='write no drawings (vis/)')
    parser.add_argument(
        '--max-draw-size', type=int, default=2048,
        help='draw larger images downscaled to this longer side (drawing an 8000x6000 photo at '
        'full size takes tens of seconds and GBs); 0: full size')
    parser.add_argument(
        '--strict', action='store_true', help='exit with status 1 when any input was skipped')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.checkpoint.endswith('.onnx'):
        if args.tta:
            raise SystemExit('--tta runs the PyTorch model; an .onnx network has no TTA')
        from deepmark_mm.deployment import OnnxDeepMark
        inferencer = OnnxDeepMark(args.checkpoint, args.config, device=args.device)
    else:
        from deepmark_mm.apis import DeepMarkInferencer
        inferencer = DeepMarkInferencer(args.config, weights=args.checkpoint, device=args.device)
    result = inferencer(
        args.inputs,
        batch_size=args.batch_size,
        out_dir=args.out_dir,
        tta=args.tta,
        score_thr=args.score_thr,
        kpt_score_thr=args.kpt_score_thr,
        show=args.show,
        no_save_vis=args.no_draw,
        max_draw_size=args.max_draw_size)
    num_garments = sum(len(p['labels']) for p in result['predictions'])
    skipped = result.get('skipped', [])
    print(f'{len(result["predictions"])} image(s), {num_garments} garment(s) with score >= '
          f'{args.score_thr}; drawings in {"-" if args.no_draw else osp.join(args.out_dir, "vis")}'
          f', readable JSON in {osp.join(args.out_dir, "preds")}, official results '
          f'{result["files"].get("bbox")} and {result["files"].get("keypoints")}')
    if skipped:
        print(f'{len(skipped)} unreadable image(s) skipped:')
        for path, reason in skipped:
            print(f'  {path}: {reason}')
    if not result['predictions']:
        print('no image could be processed', file=sys.stderr)
        return 1
    return 1 if skipped and args.strict else 0


if __name__ == '__main__':
    sys.exit(main())
