# Copyright (c) deepmark_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark.py: parameters, FLOPs (deformable convs counted), timings."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from deepmark_mm.utils import build_benchmark_detector

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC_DLA = REPO / 'configs' / 'deepmark' / 'deepmark_dla34_1xb8-12e_synthetic-128.py'
TINY_HOURGLASS = REPO / 'configs' / 'deepmark' / 'deepmark_hourglass-tiny_1xb8-12e_synthetic-128.py'


def _load_benchmark():
    path = REPO / 'tools' / 'analysis_tools' / 'benchmark.py'
    spec = importlib.util.spec_from_file_location('deepmark_benchmark', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


benchmark = _load_benchmark()


def test_cli_writes_json(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'bench.json'
    monkeypatch.setattr(sys, 'argv', [
        'benchmark.py',
        str(TINY_HOURGLASS), '--shape', '64', '96', '--warmup', '1', '--repeat', '2', '--device',
        'cpu', '--out',
        str(out)
    ])
    benchmark.main()
    report = json.loads(out.read_text())
    model = build_benchmark_detector(str(TINY_HOURGLASS), None, 'cpu')
    assert report['params_M'] == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6)
    assert [r['shape'] for r in report['results']] == [[64, 64], [96, 96]]
    for row in report['results']:
        assert row['forward_ms'] > 0 and row['decode_ms'] > 0
        assert row['total_ms'] == pytest.approx(row['forward_ms'] + row['decode_ms'])
        assert row['uncounted_ops'] == {}
    small, large = (r['gflops'] for r in report['results'])
    assert large / small == pytest.approx((96 / 64)**2, rel=1e-6)  # convs only: scales with area
    assert 'CPU' in report['device']
    assert 'hourglass-tiny' in capsys.readouterr().out


def test_deformable_convs_are_counted():
    """FLOPs(DCN) - FLOPs(plain) is exactly the offset/mask convs DCNv2 adds."""
    side = 64
    inputs = torch.randn(1, 3, side, side)
    plain = build_benchmark_detector(str(SYNTHETIC_DLA), None, 'cpu', ['model.neck.use_dcn=False'])
    deformable = build_benchmark_detector(
        str(SYNTHETIC_DLA), None, 'cpu', ['model.neck.use_dcn=True'])
    offset_flops = []

    def record(module, args, output):
        offset_flops.append(output.numel() * module.in_channels * 9)

    for name, module in deformable.named_modules():
        if name.endswith('conv.conv_offset'):
            module.register_forward_hook(record)
    with torch.no_grad():
        deformable._forward(inputs)
    # DLAUpNeck: DLAUp stages with 1, 2, 3 (projection, node) pairs, then IDAUp with 2 pairs
    assert len(offset_flops) == 2 * (1 + 2 + 3 + 2)
    expected_difference = sum(offset_flops)
    plain_count = benchmark.count_flops(plain, inputs)
    deformable_count = benchmark.count_flops(deformable, inputs)
    assert plain_count['uncounted_ops'] == {} and deformable_count['uncounted_ops'] == {}
    difference = (deformable_count['gflops'] - plain_count['gflops']) * 1e9
    assert difference == pytest.approx(expected_difference, rel=1e-9)
