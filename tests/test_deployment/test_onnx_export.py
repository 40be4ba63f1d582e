# Copyright (c) deepmark_mm contributors. All rights reserved.
import copy

import onnx
import pytest
import torch

from deepmark_mm.apis import load_deepmark_config
from deepmark_mm.deployment import (INPUT_NAME, OUTPUT_NAMES, DeepMarkExportWrapper,
                                    compare_with_pytorch, create_session, export_onnx,
                                    export_opset)
from deepmark_mm.ops import ModulatedDeformConv2d

#: Same model as the ``exported`` fixture (tests/test_deployment/conftest.py).
SYNTHETIC_CONFIG = 'deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py'
SMALL_DECODE = {'model.test_cfg.topk': 8, 'model.test_cfg.max_per_img': 8}


def test_graph_has_a_dynamic_batch_and_the_six_maps(exported):
    graph = onnx.load(exported['onnx_file'])
    (graph_input, ) = graph.graph.input
    dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    assert graph_input.name == INPUT_NAME and dims == ['batch', 3, 128, 128]
    assert [o.name for o in graph.graph.output] == list(OUTPUT_NAMES)
    metadata = {p.key: p.value for p in graph.metadata_props}
    assert metadata['heatmaps'].startswith('sigmoid') and metadata['input_hw'] == '128,128'
    assert metadata['mean'] == '104.01,114.03,119.92'
    # the export's own check: onnxruntime == PyTorch on a random batch of 2
    assert set(exported['info']['max_abs_diff']) == set(OUTPUT_NAMES)
    assert max(exported['info']['max_abs_diff'].values()) < 1e-4


def test_raw_maps_match_pytorch_for_another_batch_size(exported):
    wrapper = DeepMarkExportWrapper(exported['model']).eval()
    batch = torch.randn(3, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    differences = compare_with_pytorch(wrapper, exported['onnx_file'], batch)
    assert max(differences.values()) < 1e-4, differences
    outputs = create_session(
        exported['onnx_file'], num_threads=1).run(None, {INPUT_NAME: batch.numpy()})
    assert [o.shape for o in outputs] == [(3, 13, 32, 32), (3, 2, 32, 32), (3, 2, 32, 32),
                                          (3, 588, 32, 32), (3, 294, 32, 32), (3, 2, 32, 32)]
    # heatmaps leave the graph as probabilities
    for heatmap in (outputs[0], outputs[4]):
        assert heatmap.min() > 0 and heatmap.max() < 1


def test_deformable_convolutions_export_at_opset_19_and_foreign_ones_are_refused(
        exported, tmp_path):
    from mmcv.ops import ModulatedDeformConv2dPack as MmcvDCNv2
    from mmdet.registry import MODELS

    cfg = load_deepmark_config(SYNTHETIC_CONFIG)
    dcn_neck = MODELS.build(dict(cfg.model.neck, use_dcn=True))
    assert sum(isinstance(m, ModulatedDeformConv2d) for m in dcn_neck.modules()) == 16
    assert export_opset(dcn_neck) == 19
    assert export_opset(MODELS.build(dict(cfg.model.neck, use_dcn=False))) == 17
    with_mmcv_dcn = copy.deepcopy(exported['model'])
    with_mmcv_dcn.extra = MmcvDCNv2(4, 4, 3, padding=1)
    out_file = tmp_path / 'refused.onnx'
    with pytest.raises(ValueError, match=r'deformable convolution\(s\) \(extra\) that are not'):
        export_onnx(SYNTHETIC_CONFIG, None, str(out_file), model=with_mmcv_dcn, verify=False)
    assert not out_file.exists()


def test_input_shape_must_not_need_padding(exported, tmp_path):
    with pytest.raises(ValueError, match='not a multiple of the pad_size_divisor 32'):
        export_onnx(
            SYNTHETIC_CONFIG,
            None,
            str(tmp_path / 'x.onnx'),
            input_shape=(100, 128),
            model=exported['model'],
            verify=False)


def test_benchmark_reports_timings_and_hardware(exported, load_tool):
    benchmark_onnx = load_tool('tools/analysis_tools/_timing.py').benchmark_onnx
    report = benchmark_onnx(exported['onnx_file'], repeats=2, warmup=1, num_threads=1)
    assert report['input_shape'] == [1, 3, 128, 128]
    assert 0 < report['ms_min'] <= report['ms_median'] <= max(report['ms_mean'] * 2, 1e9)
    assert report['images_per_s'] == pytest.approx(1000 / report['ms_mean'])
    assert report['providers'] == ['CPUExecutionProvider'] and report['cpu']
    batched = benchmark_onnx(
        exported['onnx_file'], shape=(2, 3, 128, 128), repeats=1, warmup=0, num_threads=1)
    assert batched['input_shape'] == [2, 3, 128, 128]
    with pytest.raises(ValueError, match=r'takes \(batch, 3, 128, 128\)'):
        benchmark_onnx(exported['onnx_file'], shape=64, repeats=1)
