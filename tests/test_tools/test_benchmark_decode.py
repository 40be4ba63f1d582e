# Copyright (c) deepmark_mm contributors. All rights reserved.
"""tools/analysis_tools/benchmark_decode.py: three decodings of the same maps, equal predictions."""
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'configs' / 'deepmark' / 'deepmark_dla46c_1xb8-4000it_synthetic-128.py'


def test_cli_times_three_decodings_and_restores_the_code(tmp_path, monkeypatch, load_tool):
    tool = load_tool('tools/analysis_tools/benchmark_decode.py')
    from deepmark_mm.models.task_modules import deepmark_codec
    from deepmark_mm.models.utils import peak_topk
    before = (deepmark_codec.topk_local_maxima, peak_topk.local_maximum)
    out = tmp_path / 'decode.json'
    monkeypatch.setattr(sys, 'argv', [
        'benchmark_decode.py', str(DEMO), '--shape', '64', '--batch', '1', '2', '--repeat', '1',
        '--threads', str(torch.get_num_threads()), '--out', str(out)])
    tool.main()
    rows = json.loads(out.read_text())['rows']
    assert [row['maps'] for row in rows] == ['batch 1', 'batch 2', 'flip-fused 1']
    for row in rows:
        assert row['identical'] is True
        assert all(row[f'{key}_ms'] > 0 for key in ('forward', 'max-pool', 'old', 'new'))
    assert (deepmark_codec.topk_local_maxima, peak_topk.local_maximum) == before
    with tool.reference_decoding('max-pool'):
        assert peak_topk.local_maximum is not before[1]
        assert deepmark_codec.topk_local_maxima is peak_topk.dense_topk_local_maxima
