# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Error analysis: which DeepMark branch limits the mAP of a trained model?

Runs the model on the test split and evaluates it again with one (or a group of) head branch(es)
replaced by its ground truth, e.g. the landmark heatmap by the target Gaussians. The mAP gained
by a replacement is what that branch costs; with every branch replaced the decode returns the
ground truth, so the ``all`` row checks decoding and the metric themselves (box mAP 1.0).

    python tools/analysis_tools/oracle_analysis.py CONFIG CHECKPOINT [--cfg-options ...]
        [--trust-checkpoint] [--max-images N]

Prints one row per variant: box mAP, landmark mAP (visible + occluded) and visible-only mAP.
"""
import argparse
import copy
import os
from typing import Dict, List, Sequence, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from deepmark_mm.utils import load_checkpoint_file, load_model_checkpoint

#: Rows of the report: name -> branches replaced by their ground truth.
VARIANTS: Dict[str, Tuple[str, ...]] = {
    'predicted': (),
    'gt center_heatmap': ('center_heatmap', ),
    'gt wh': ('wh', ),
    'gt offset': ('offset', ),
    'gt wh + offset': ('wh', 'offset'),
    'gt kpt_reg': ('kpt_reg', ),
    'gt kpt_heatmap': ('kpt_heatmap', ),
    'gt kpt_offset': ('kpt_offset', ),
    'gt kpt_heatmap + kpt_offset': ('kpt_heatmap', 'kpt_offset'),
    'all': ('center_heatmap', 'wh', 'offset', 'kpt_reg', 'kpt_heatmap', 'kpt_offset'),
}
METRIC_KEYS = ('bbox_mAP', 'kpt_mAP', 'kpt_vis_mAP')


def parse_args(argv: Sequence[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='mAP with head branches replaced by ground truth')
    parser.add_argument('config', help='test config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--max-images', type=int, default=None,
                        help='evaluate only the first N test images')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow full (code-executing) unpickling of the checkpoint')
    parser.add_argument('--work-dir', default='work_dirs/oracle_analysis')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(argv)


def build_runner(args: argparse.Namespace) -> Runner:
    """A runner for the config's test split, with the checkpoint loaded into its model."""
    if args.trust_checkpoint:
        os.environ['DEEPMARK_TRUST_CHECKPOINTS'] = '1'
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir
    cfg.load_from = None
    if args.max_images is not None:
        cfg.test_dataloader.dataset.indices = args.max_images
    runner = Runner.from_cfg(cfg)
    load_model_checkpoint(runner.model, load_checkpoint_file(args.checkpoint, map_location='cpu'),
                          args.checkpoint, args.config, cfg.get('load_partial', False))
    return runner


@torch.no_grad()
def oracle_analysis(runner: Runner,
                    variants: Dict[str, Tuple[str, ...]] = VARIANTS) -> Dict[str, Dict[str, float]]:
    """Evaluate the runner's model on its test split once per variant.

    Args:
        runner (Runner): With a DeepMark detector (``bbox_head`` a :class:`DeepMarkHead`) and a
            test dataloader whose samples carry ``gt_instances`` with landmarks.
        variants (dict[str, tuple[str]]): Name -> branches to replace.

    Returns:
        dict[str, dict[str, float]]: Per variant, ``bbox_mAP``, ``kpt_mAP`` and ``kpt_vis_mAP``.
    """
    from deepmark_mm.models.utils import BRANCHES, substitute_ground_truth
    from mmengine.evaluator import Evaluator

    model = runner.model.eval()
    head = model.bbox_head
    dataset = runner.test_dataloader.dataset
    evaluators = {name: Evaluator(copy.deepcopy(runner.cfg.test_evaluator)) for name in variants}
    for evaluator in evaluators.values():
        evaluator.dataset_meta = dataset.metainfo
    for data in runner.test_dataloader:
        data = model.data_preprocessor(data, False)
        samples = data['data_samples']
        metas: List[dict] = [sample.metainfo for sample in samples]  # with batch_input_shape
        predicted = dict(zip(BRANCHES, head.codec.prob_maps(head(model.extract_feat(
            data['inputs'])))))
        targets = head.get_targets([sample.gt_instances for sample in samples], metas,
                                   predicted['center_heatmap'].shape)
        for name, branches in variants.items():
            maps = substitute_ground_truth(predicted, targets, branches)
            results = head.codec.decode([maps[branch] for branch in BRANCHES], metas, rescale=True)
            scored = []
            for sample, instances in zip(samples, results):
                sample = sample.clone()
                sample.pred_instances = instances
                scored.append(sample)
            evaluators[name].process(data_samples=scored)
    report = {}
    for name, evaluator in evaluators.items():
        metrics = evaluator.evaluate(len(dataset))
        report[name] = {key: float(metrics[f'deepfashion2/{key}']) for key in METRIC_KEYS}
    return report


def format_report(report: Dict[str, Dict[str, float]]) -> str:
    """A text table: one row per variant, the gain over ``predicted`` in brackets."""
    base = report.get('predicted')
    width = max(len(name) for name in report)
    lines = [f'{"variant":{width}s}  ' + '  '.join(f'{key:>16s}' for key in METRIC_KEYS)]
    for name, row in report.items():
        cells = []
        for key in METRIC_KEYS:
            gain = '' if base is None or name == 'predicted' else f' ({row[key] - base[key]:+.3f})'
            cells.append(f'{row[key]:.3f}{gain}'.rjust(16))
        lines.append(f'{name:{width}s}  ' + '  '.join(cells))
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    report = oracle_analysis(build_runner(args))
    print('\nmAP with head branches replaced by their ground truth:')
    print(format_report(report))


if __name__ == '__main__':
    main()
