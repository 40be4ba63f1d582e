# Copyright (c) deepmark_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark.py: every --task, FLOPs (deformable convs counted), the timers."""
import json
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs' / 'deepmark'
SYNTHETIC_DLA = CONFIGS / 'deepmark_dla34_1xb8-12e_synthetic-128.py'
TINY_HOURGLASS = CONFIGS / 'deepmark_hourglass-tiny_1xb8-12e_synthetic-128.py'
DEMO = CONFIGS / 'deepmark_dla46c_1xb8-4000it_synthetic-128.py'


@pytest.fixture(scope='module')
def benchmark(load_tool):
    return load_tool('tools/analysis_tools/benchmark.py')


def test_inference_writes_json(tmp_path, benchmark, capsys):
    out = tmp_path / 'bench.json'
    benchmark.main([str(TINY_HOURGLASS), '--shape', '64', '96', '--warmup', '1', '--repeat', '2',
                    '--device', 'cpu', '--out', str(out)])
    report = json.loads(out.read_text())
    model = benchmark.build_model(str(TINY_HOURGLASS), None, 'cpu')
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


def test_deformable_convs_are_counted(benchmark):
    """FLOPs(DCN) - FLOPs(plain) is exactly the offset/mask convs DCNv2 adds."""
    side = 64
    inputs = torch.randn(1, 3, side, side)
    plain = benchmark.build_model(str(SYNTHETIC_DLA), None, 'cpu', {'model.neck.use_dcn': False})
    deformable = benchmark.build_model(str(SYNTHETIC_DLA), None, 'cpu',
                                       {'model.neck.use_dcn': True})
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


def test_tta_reports_every_column(tmp_path, benchmark):
    out = tmp_path / 'bench.json'
    config = CONFIGS / 'deepmark_dla34_1xb8-12e_synthetic-128_flip.py'  # unwrapped by the tool
    benchmark.main([str(config), '--task', 'tta', '--shape', '64', '--scales', '1.0', '0.5',
                    '--warmup', '0', '--repeat', '1', '--device', 'cpu', '--out', str(out)])
    report = json.loads(out.read_text())
    (row, ) = report['results']
    assert row['shape'] == [64, 64] and row['views'] == [64, 32]
    for key in ('forward_ms', 'forward_x2_ms', 'single_ms', 'nms_ms', 'flip_ms', 'flip_ms_ms'):
        assert row[key] > 0, key
    assert report['paper_ms_hourglass104_512'] == dict(single=73, nms=76, flip=165, flip_ms=315)
    assert 'CPU' in report['device']


def test_decode_times_two_decodings_and_restores_the_code(tmp_path, benchmark):
    from deepmark_mm.models.task_modules import deepmark_codec as deepmark_decode
    from deepmark_mm.models.utils import peak_topk
    before = deepmark_decode.topk_local_maxima
    out = tmp_path / 'decode.json'
    benchmark.main([str(DEMO), '--task', 'decode', '--shape', '64', '--batch', '1', '2',
                    '--repeat', '1', '--threads', str(torch.get_num_threads()), '--out', str(out)])
    rows = json.loads(out.read_text())['rows']
    assert [row['maps'] for row in rows] == ['batch 1', 'batch 2', 'flip-fused 1']
    for row in rows:
        assert row['identical'] is True
        assert all(row[f'{key}_ms'] > 0 for key in ('forward', 'max-pool', 'new'))
    assert deepmark_decode.topk_local_maxima is before
    with benchmark.reference_decoding():
        assert deepmark_decode.topk_local_maxima is peak_topk.dense_topk_local_maxima
    with pytest.raises(SystemExit):  # one side, on the CPU
        benchmark.parse_args([str(DEMO), '--task', 'decode', '--shape', '64', '128'])


def test_dcn_compares_the_kernels_on_the_same_weights(tmp_path, benchmark):
    out = tmp_path / 'dcn.json'
    report = benchmark.main(['--task', 'dcn', '--shape', '64', '--rois', '8', '--warmup', '0',
                             '--repeat', '1', '--device', 'cpu', '--out', str(out)])
    assert json.loads(out.read_text()) == report
    dla, roi = report['rows']
    assert (dla['task'], dla['input'], roi['task'], roi['rois']) == ('dla34 up-path', 64,
                                                                     'roi_align', 8)
    assert dla['deepmark_mm.ops (torchvision) ms'] > 0
    assert dla['max_abs_diff mmcv.ops on stand-in (torchvision)'] < 1e-4


def test_interleaved_rounds_rotate_the_order_and_medians_follow_each_function(load_tool):
    interleaved_median_ms = load_tool('tools/analysis_tools/_timing.py').interleaved_median_ms
    calls = []

    def runner(name, seconds):
        def run():
            calls.append(name)
            time.sleep(seconds)
        return run

    fast, slow = interleaved_median_ms([runner('a', 0.001), runner('b', 0.02)], repeat=3,
                                       warmup=1)
    # one warm-up round in order, then rounds starting at a, b, a
    assert calls == ['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']
    assert 1 <= fast < 10 and 20 <= slow < 60
