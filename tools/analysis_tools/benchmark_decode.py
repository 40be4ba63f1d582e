#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Decoding + landmark grouping against the network forward, old vs new, in one process.

Three decodings of the same maps, timed interleaved round by round (a shared machine slows all
alike), their predictions checked equal:

- "max-pool": mmdet's ``get_local_maximum`` (``max_pool2d``) then ``torch.topk`` over every
  pixel of each masked heatmap;
- "old": the same dense top-K after the separable max filter
  (:func:`~deepmark_mm.models.utils.peak_topk.dense_topk_local_maxima`);
- "new": the code as it is (:func:`~deepmark_mm.models.utils.peak_topk.topk_local_maxima`:
  top-K of the compacted local maxima; landmark peaks only down to the grouping's
  ``score_thr``, :func:`~deepmark_mm.models.utils.peak_topk.topk_local_maxima_above`).

Random weights; the new cost grows with the number of local maxima and of tied rows.

    python tools/analysis_tools/benchmark_decode.py configs/deepmark_dla34_512.py \
        --cfg-options model.neck.use_dcn=False model.backbone.pretrained=False \
        --shape 512 --batch 1 8 --threads 2
"""
import argparse
import contextlib
import os.path as osp
import statistics
import sys
import time
from typing import Callable, Dict, List

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Time DeepMark decoding, old vs new')
    parser.add_argument('config', help='config file')
    parser.add_argument('--checkpoint', help='checkpoint (random weights when omitted)')
    parser.add_argument('--shape', type=int, default=512, help='square input side')
    parser.add_argument('--batch', type=int, nargs='+', default=[1, 8], help='batch sizes')
    parser.add_argument('--threads', type=int, default=2, help='torch intra-op threads')
    parser.add_argument('--repeat', type=int, default=5, help='timed rounds (each: old, new)')
    parser.add_argument('--no-flip', action='store_true', help='skip the flip-fused maps')
    parser.add_argument('--cfg-options', nargs='+', default=None, help='key=value overrides')
    parser.add_argument('--out', help='JSON output (default: work_dirs/benchmark/...)')
    return parser.parse_args()


@contextlib.contextmanager
def reference_decoding(kind: str):
    """Run the decoding with a dense top-K over every pixel: ``'old'`` or ``'max-pool'``."""
    from mmdet.models.utils import get_local_maximum

    from deepmark_mm.models.task_modules import deepmark_codec as deepmark_decode
    from deepmark_mm.models.utils import peak_topk
    from deepmark_mm.models.utils.peak_topk import dense_topk_local_maxima
    new = (deepmark_decode.topk_local_maxima, deepmark_decode.topk_local_maxima_above,
           peak_topk.local_maximum)
    deepmark_decode.topk_local_maxima = dense_topk_local_maxima
    # every landmark peak, also those below the grouping's score_thr
    deepmark_decode.topk_local_maxima_above = \
        lambda heat, k, min_score, kernel=3: dense_topk_local_maxima(heat, k, kernel)
    if kind == 'max-pool':
        peak_topk.local_maximum = get_local_maximum
    try:
        yield
    finally:
        (deepmark_decode.topk_local_maxima, deepmark_decode.topk_local_maxima_above,
         peak_topk.local_maximum) = new


def _ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _same(old: List, new: List) -> bool:
    return all(
        torch.equal(a.get(key), b.get(key)) for a, b in zip(old, new)
        for key in ('bboxes', 'scores', 'labels', 'keypoints', 'keypoint_scores'))


def measure(model, maps, forward: Callable[[], object], metas: List[dict],
            repeat: int) -> Dict[str, float]:
    """Median ms of forward, max-pool, old and new decode over interleaved rounds."""
    head = model.bbox_head

    def decode():
        return head.codec.decode(maps, metas, rescale=False)

    new = decode()
    same = True
    for kind in ('max-pool', 'old'):
        with reference_decoding(kind):
            same = same and _same(decode(), new)
    times: Dict[str, List[float]] = {'forward': [], 'max-pool': [], 'old': [], 'new': []}
    for _ in range(repeat):
        times['forward'].append(_ms(forward))
        for kind in ('max-pool', 'old'):
            with reference_decoding(kind):
                times[kind].append(_ms(decode))
        times['new'].append(_ms(decode))
    row = {f'{key}_ms': statistics.median(value) for key, value in times.items()}
    row['identical'] = same
    return row


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    from deepmark_mm.datasets.deepfashion2_metainfo import flip_indices
    from deepmark_mm.models.test_time_augs.flip_fusion import fuse_flip_outputs
    from deepmark_mm.utils import build_benchmark_detector, device_name, write_benchmark_report
    model = build_benchmark_detector(args.config, args.checkpoint, 'cpu', args.cfg_options)
    side = args.shape
    report = dict(config=args.config, cfg_options=args.cfg_options, device=device_name('cpu'),
                  torch=torch.__version__, shape=side, rows=[])
    print(f'{report["device"]}, input {side}x{side}')
    print(f'{"maps":>14} {"forward ms":>11} {"max-pool":>9} {"old decode":>11} '
          f'{"new decode":>11} {"max-pool %":>10} {"old %":>6} {"new %":>6} {"speed-up":>8} '
          f'identical')
    cases = [(f'batch {b}', b, False) for b in args.batch]
    if not args.no_flip:
        cases.append(('flip-fused 1', 1, True))
    with torch.inference_mode():
        for name, batch, flip in cases:
            torch.manual_seed(0)
            inputs = torch.randn(batch, 3, side, side)
            if flip:
                inputs = torch.cat([inputs, inputs.flip(3)])

            def forward():
                outs = model._forward(inputs)
                maps = [level[-1] for level in outs]
                maps[0], maps[4] = maps[0].sigmoid(), maps[4].sigmoid()
                if flip:
                    maps = list(fuse_flip_outputs(*maps, torch.tensor(flip_indices())))
                return maps

            maps = forward()
            metas = [dict(batch_input_shape=(side, side))] * batch
            row = measure(model, maps, forward, metas, args.repeat)
            row.update(maps=name, batch=batch)
            report['rows'].append(row)
            forward_ms = row['forward_ms']
            print(f'{name:>14} {forward_ms:11.1f} {row["max-pool_ms"]:9.1f} '
                  f'{row["old_ms"]:11.1f} {row["new_ms"]:11.1f} '
                  f'{100 * row["max-pool_ms"] / forward_ms:10.1f} '
                  f'{100 * row["old_ms"] / forward_ms:6.1f} {100 * row["new_ms"] / forward_ms:6.1f} '
                  f'{row["max-pool_ms"] / row["new_ms"]:8.2f} {row["identical"]}')
    write_benchmark_report(report, args.out, args.config, f'_decode_{side}')


if __name__ == '__main__':
    main()
