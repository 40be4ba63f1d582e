# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Print the demo's metric table (single vs flip TTA) next to the learning bar.

    python tools/analysis_tools/demo_report.py WORK_DIR_SINGLE WORK_DIR_FLIP
        [--flip-ms WORK_DIR_FLIP_MS] [--no-bar]

Each work dir is one `tools/test.py` run; its newest ``<timestamp>/<timestamp>.json`` holds the
metrics. The bar is met when single scale and flip TTA both reach it and flip TTA is at least as
good as single scale; the flip + multi-scale column is shown next to them and said to reach the
bar or not, without changing the verdict. Exits 1 when the bar is missed, unless --no-bar.
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict

#: (metric key, label, bar) — the bar of the end-to-end issue on the synthetic validation split.
ROWS = (
    ('bbox_mAP', 'box mAP', 0.80),
    ('bbox_mAP_50', 'box mAP@0.5', None),
    ('kpt_mAP', 'landmark mAP (visible + occluded)', 0.60),
    ('kpt_mAP_50', 'landmark mAP@0.5 (visible + occluded)', None),
    ('kpt_vis_mAP', 'landmark mAP (visible only)', None),
)
PREFIX = 'deepfashion2/'


def read_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics of the newest test run in ``work_dir``.

    Raises:
        FileNotFoundError: When the work dir holds no test log.
    """
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
    if not logs:
        raise FileNotFoundError(f'no test results (<timestamp>/<timestamp>.json) in {work_dir}')
    with open(logs[-1], encoding='utf-8') as f:
        # the first object of the last line: under torchrun every rank's LoggerHook rewrites the
        # test json (mmengine 0.10 does not guard it by rank), a shorter write can leave a tail
        last = json.JSONDecoder().raw_decode(f.read().strip().splitlines()[-1])[0]
    return {k[len(PREFIX):]: v for k, v in last.items() if k.startswith(PREFIX)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('single', help='work dir of the single-scale test')
    parser.add_argument('flip', help='work dir of the flip TTA test')
    parser.add_argument('--flip-ms', help='work dir of a flip + multi-scale TTA test (shown only)')
    parser.add_argument('--no-bar', action='store_true',
                        help='report the verdict but exit 0 when the bar is missed')
    args = parser.parse_args()
    single, flip = read_metrics(args.single), read_metrics(args.flip)
    columns = [('single', single), ('flip', flip)]
    if args.flip_ms:
        columns.append(('flip+ms', read_metrics(args.flip_ms)))
    print(f'\n{"metric":40s} ' + ' '.join(f'{name:>8s}' for name, _ in columns) + f' {"bar":>8s}')
    failures = []
    for key, label, bar in ROWS:
        bar_text = f'>= {bar:.2f}' if bar is not None else ''
        values = ' '.join(f'{metrics[key]:8.4f}' for _, metrics in columns)
        print(f'{label:40s} {values} {bar_text:>8s}')
        if bar is not None and min(single[key], flip[key]) < bar:
            failures.append(f'{label} below {bar}')
    for name, metrics in columns:
        reached = [label for key, label, bar in ROWS if bar is not None and metrics[key] >= bar]
        print(f'{name}: reaches the bar on {", ".join(reached) if reached else "nothing"}')
    for key in ('bbox_mAP', 'kpt_mAP'):
        if flip[key] < single[key]:
            failures.append(f'flip TTA {key} {flip[key]:.4f} < single {single[key]:.4f}')
    if failures:
        print('\nLEARNING BAR MISSED: ' + '; '.join(failures))
        return 0 if args.no_bar else 1
    print('\nlearning bar met: box mAP >= 0.80, landmark mAP >= 0.60, flip TTA >= single')
    return 0


if __name__ == '__main__':
    sys.exit(main())
