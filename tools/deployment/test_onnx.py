#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Evaluate an exported graph (raw maps or ``--postprocess``, fp32 or int8) like tools/test.py.

    python tools/deployment/test_onnx.py CONFIG MODEL.onnx [--threads 2] [--cfg-options ...]

The config's test dataloader and evaluator run through mmengine's ``Runner``; the model is an
``OnnxDeepMarkModel`` (the config's data preprocessor, onnxruntime, then the head's decoding for
raw-map graphs). The test pipeline must produce the graph's input size.
"""
import argparse
import json
import os.path as osp
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main() -> None:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Evaluate an ONNX DeepMark graph')
    parser.add_argument('config')
    parser.add_argument('onnx_file')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    from mmengine.runner import Runner
    from deepmark_mm.apis import load_deepmark_config
    from deepmark_mm.deployment import OnnxDeepMarkModel
    cfg = load_deepmark_config(args.config, args.cfg_options)
    cfg.work_dir = args.work_dir or tempfile.mkdtemp(prefix='test_onnx_')
    cfg.load_from = None
    runner = Runner.from_cfg(cfg)
    runner.model = OnnxDeepMarkModel(args.onnx_file, cfg, num_threads=args.threads)
    metrics = runner.test()
    print(json.dumps({key: float(value) for key, value in metrics.items()}, indent=1))


if __name__ == '__main__':
    main()
