# Copyright (c) deepmark_mm contributors. All rights reserved.
"""``--postprocess`` graphs: onnxruntime alone == the PyTorch head's predictions; padding rows."""
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from mmdet.structures import DetDataSample

from deepmark_mm.deployment import (INPUT_NAME, POSTPROCESS_OUTPUT_NAMES, DeepMarkExportWrapper,
                                    DeepMarkPostprocess, build_detector, create_session,
                                    export_onnx)
from deepmark_mm.models.test_time_augs import DeepMarkTTAModel, fuse_flip_outputs

DEMO_CONFIG = 'configs/deepmark/deepmark_dla46c_1xb8-4000it_synthetic-128.py'
SIZE = 64

#: Runs the file with onnxruntime + numpy only, in a fresh interpreter; fails if deepmark_mm
#: (or torch) was imported.
RUNTIME_ONLY = '''
import sys
import numpy as np
import onnxruntime as ort
onnx_file, inputs_file, outputs_file = sys.argv[1:]
session = ort.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
outputs = session.run(None, {'input': np.load(inputs_file)})
names = [output.name for output in session.get_outputs()]
np.savez(outputs_file, **dict(zip(names, outputs)))
assert not any(name.split('.')[0] in ('deepmark_mm', 'torch', 'mmdet') for name in sys.modules)
'''


def perturbed_demo_model(cfg_options=None):
    """The demo model with random weights whose heatmaps have real peaks.

    Fresh heads give nearly flat heatmaps (the bias init); larger last-layer weights spread the
    probabilities (without saturating at 1, where scores would tie) so detections, landmark peaks
    and snapped landmarks differ.
    """
    torch.manual_seed(0)
    model = build_detector(DEMO_CONFIG, None, cfg_options=cfg_options)
    head = model.bbox_head
    with torch.no_grad():
        for branch in (head.heatmap_head, head.kpt_heatmap_head):
            branch[-1][-1].weight.mul_(8.)
        head.wh_head[-1][-1].bias.fill_(4.)  # boxes of about 4 feature pixels
    return model


def run_without_deepmark(onnx_file, inputs, tmp_path):
    np.save(tmp_path / 'inputs.npy', inputs)
    subprocess.run([
        sys.executable, '-c', RUNTIME_ONLY, onnx_file,
        str(tmp_path / 'inputs.npy'),
        str(tmp_path / 'outputs.npz')
    ],
                   check=True)
    return dict(np.load(tmp_path / 'outputs.npz'))


def samples(batch_size):
    meta = dict(batch_input_shape=(SIZE, SIZE), img_shape=(SIZE, SIZE), pad_shape=(SIZE, SIZE))
    return [DetDataSample(metainfo=meta) for _ in range(batch_size)]


def assert_matches(graph_outputs, reference):
    """Graph rows == the head's rows; rows the graph pads score 0 in the head too."""
    for index, instances in enumerate(reference):
        real = graph_outputs['labels'][index] >= 0
        num_real = int(real.sum())
        assert num_real > 0 and real[:num_real].all()  # padding rows come last
        np.testing.assert_array_equal(graph_outputs['labels'][index, :num_real],
                                      instances.labels[:num_real].numpy())
        for name, atol in (('bboxes', 1e-3), ('keypoints', 1e-3), ('scores', 1e-5),
                           ('keypoint_scores', 1e-5)):
            np.testing.assert_allclose(
                graph_outputs[name][index, :num_real],
                getattr(instances, name)[:num_real].numpy(),
                atol=atol,
                rtol=0,
                err_msg=name)
        assert (instances.scores[num_real:] == 0).all()


@pytest.fixture(scope='module')
def demo_postprocess(tmp_path_factory):
    folder = tmp_path_factory.mktemp('postprocess')
    model = perturbed_demo_model()
    onnx_file = str(folder / 'demo_post.onnx')
    info = export_onnx(
        DEMO_CONFIG, None, onnx_file, input_shape=SIZE, model=model, postprocess=True)
    return dict(model=model, onnx_file=onnx_file, info=info)


def test_onnxruntime_alone_matches_the_head(demo_postprocess, tmp_path):
    model = demo_postprocess['model']
    inputs = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    outputs = run_without_deepmark(demo_postprocess['onnx_file'], inputs.numpy(), tmp_path)
    with torch.no_grad():
        reference = [s.pred_instances for s in model.predict(inputs, samples(2), rescale=False)]
    max_per_img = model.bbox_head.test_cfg['max_per_img']
    assert outputs['bboxes'].shape == (2, max_per_img, 4)
    assert outputs['keypoints'].shape == (2, max_per_img, model.bbox_head.num_keypoints, 2)
    assert_matches(outputs, reference)
    # non-trivial: several categories and landmarks that snapped to heatmap peaks
    assert len(np.unique(outputs['labels'])) > 3
    assert (outputs['keypoint_scores'] > model.bbox_head.codec.score_thr).sum() > 10
    graph = onnx.load(demo_postprocess['onnx_file'])
    metadata = {p.key: p.value for p in graph.metadata_props}
    assert 'keypoint_score_weight=0.35' in metadata['decode_settings']
    # the 2J landmark offsets are computed at the decoded centres, not at every pixel
    dims = {tensor.name: tensor.dims for tensor in graph.graph.initializer}
    num_reg = 2 * model.bbox_head.num_keypoints
    assert not [
        n for n in graph.graph.node if n.op_type == 'Conv' and dims[n.input[1]][0] == num_reg]
    assert [n for n in graph.graph.node
            if n.op_type in ('MatMul', 'Gemm') and num_reg in dims.get(n.input[1], ())]
    assert max(demo_postprocess['info']['max_abs_diff'].values()) < 1e-3


def test_padding_rows_score_zero_and_are_empty(tmp_path):
    # 8 decoded detections, 12 rows: 4 padding rows per image
    model = perturbed_demo_model({'model.test_cfg.topk': 8, 'model.test_cfg.max_per_img': 12})
    onnx_file = str(tmp_path / 'padded.onnx')
    export_onnx(DEMO_CONFIG, None, onnx_file, input_shape=SIZE, model=model, postprocess=True)
    inputs = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    outputs = run_without_deepmark(onnx_file, inputs.numpy(), tmp_path)
    assert outputs['scores'].shape == (2, 12)
    assert (outputs['scores'][:, 8:] == 0).all() and (outputs['labels'][:, 8:] == -1).all()
    assert (outputs['bboxes'][:, 8:] == 0).all() and (outputs['keypoints'][:, 8:] == 0).all()
    assert (outputs['keypoint_scores'][:, 8:] == 0).all()
    assert (outputs['scores'][:, :8] > 0).all() and (outputs['labels'][:, :8] >= 0).all()
    with torch.no_grad():
        reference = [s.pred_instances for s in model.predict(inputs, samples(2), rescale=False)]
    assert [len(r) for r in reference] == [8, 8]
    assert_matches(outputs, reference)


def test_rows_decoded_at_score_zero_are_padding():
    # a centre heatmap that is 0 everywhere: every decoded row is padding
    model = perturbed_demo_model()
    head = model.bbox_head
    decode = DeepMarkPostprocess(head, (SIZE, SIZE)).eval()
    generator = torch.Generator().manual_seed(5)
    maps = [
        torch.zeros(1, head.num_classes, 16, 16),
        torch.rand(1, 2, 16, 16, generator=generator) * 8,
        torch.rand(1, 2, 16, 16, generator=generator),
        torch.randn(1, 2 * head.num_keypoints, 16, 16, generator=generator),
        torch.rand(1, head.num_keypoints, 16, 16, generator=generator),
        torch.rand(1, 2, 16, 16, generator=generator)
    ]
    bboxes, scores, labels, keypoints, keypoint_scores = decode(*maps)
    assert (scores == 0).all() and (labels == -1).all()
    assert (bboxes == 0).all() and (keypoints == 0).all() and (keypoint_scores == 0).all()
    reference = head.codec.decode(maps, [samples(1)[0].metainfo])[0]
    assert (reference.scores == 0).all() and (reference.bboxes != 0).any()


def test_flip_fused_graph_matches_the_tta_fusion(tmp_path):
    model = perturbed_demo_model()
    onnx_file = str(tmp_path / 'flip.onnx')
    info = export_onnx(
        DEMO_CONFIG, None, onnx_file, input_shape=SIZE, model=model, postprocess=True, flip=True)
    assert info['flip'] and json.dumps(info)
    inputs = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(6))
    outputs = run_without_deepmark(onnx_file, inputs.numpy(), tmp_path)
    head = model.bbox_head
    with torch.no_grad():
        levels = head(model.extract_feat(torch.cat([inputs, inputs.flip(dims=[3])])))
        center, wh, offset, kpt_reg, kpt_heatmap, kpt_offset = (level[-1] for level in levels)
        fused = fuse_flip_outputs(center.sigmoid(), wh, offset, kpt_reg, kpt_heatmap.sigmoid(),
                                  kpt_offset,
                                  DeepMarkTTAModel(module=model).flip_indices)
        reference = head.codec.decode(fused, [s.metainfo for s in samples(2)], rescale=False)
    assert_matches(outputs, reference)


def test_options_the_graph_cannot_run_are_refused(tmp_path):
    model = perturbed_demo_model()
    model.bbox_head.codec.nms = dict(type='nms')
    with pytest.raises(ValueError, match='test_cfg.nms'):
        export_onnx(DEMO_CONFIG, None, str(tmp_path / 'nms.onnx'), input_shape=SIZE, model=model,
                    postprocess=True)
    model.bbox_head.codec.nms = None
    model.bbox_head.codec.grouping = 'exclusive'
    with pytest.raises(ValueError, match='CenterNetKeypointGrouping'):
        export_onnx(DEMO_CONFIG, None, str(tmp_path / 'exclusive.onnx'), input_shape=SIZE,
                    model=model, postprocess=True)
    with pytest.raises(ValueError, match='flip fusion'):
        export_onnx(DEMO_CONFIG, None, str(tmp_path / 'flip.onnx'), input_shape=SIZE,
                    model=model, flip=True)


def test_output_names_are_the_documented_ones(demo_postprocess):
    graph = onnx.load(demo_postprocess['onnx_file']).graph
    assert [o.name for o in graph.output] == list(POSTPROCESS_OUTPUT_NAMES)
    assert {n.name.split('/')[0] for n in graph.node} == {'network', 'postprocess'}


def test_shared_channel_head_graph_matches_the_head(tmp_path):
    """A head with the semantic 69-channel table: the graph decodes the per-slot view with the
    table (peaks once per channel, votes owned among channels), as the head does."""
    model = perturbed_demo_model({'model.bbox_head.kpt_heatmap_channels': 'semantic'})
    assert model.bbox_head.num_kpt_heatmap_channels == 69
    onnx_file = str(tmp_path / 'semantic.onnx')
    export_onnx(DEMO_CONFIG, None, onnx_file, input_shape=SIZE, model=model, postprocess=True)
    inputs = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(7))
    outputs = run_without_deepmark(onnx_file, inputs.numpy(), tmp_path)
    with torch.no_grad():
        reference = [s.pred_instances for s in model.predict(inputs, samples(2), rescale=False)]
    assert_matches(outputs, reference)
    assert (outputs['keypoint_scores'] > model.bbox_head.codec.score_thr).sum() > 10


def test_fixed_batch_graph_matches_the_head_and_takes_only_its_batch(demo_postprocess, tmp_path):
    """``batch_size=1`` (the edge deployment): onnxruntime's ``make_dim_param_fixed`` on every
    input and output; the same rows as the head, and a batch of 2 is refused."""
    model = demo_postprocess['model']
    onnx_file = str(tmp_path / 'demo_post_b1.onnx')
    info = export_onnx(DEMO_CONFIG, None, onnx_file, input_shape=SIZE, model=model,
                       postprocess=True, batch_size=1)
    assert info['input_shape'] == (1, 3, SIZE, SIZE)
    graph = onnx.load(onnx_file).graph
    for value in list(graph.input) + list(graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_value == 1, value.name
    inputs = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    outputs = run_without_deepmark(onnx_file, inputs.numpy(), tmp_path)
    with torch.no_grad():
        reference = [s.pred_instances for s in model.predict(inputs, samples(1), rescale=False)]
    assert_matches(outputs, reference)
    dynamic = create_session(demo_postprocess['onnx_file'], num_threads=1).run(
        None, {INPUT_NAME: inputs.numpy()})
    fixed = create_session(onnx_file, num_threads=1).run(None, {INPUT_NAME: inputs.numpy()})
    for a, b in zip(dynamic, fixed):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(Exception, match='batch|dimension|Got invalid dimensions'):
        create_session(onnx_file, num_threads=1).run(
            None, {INPUT_NAME: np.zeros((2, 3, SIZE, SIZE), np.float32)})


def test_kpt_reg_at_centres_needs_a_last_1x1_conv_and_no_flip():
    from deepmark_mm.deployment.onnx_export import kpt_reg_last_conv
    model = perturbed_demo_model()
    head = model.bbox_head
    assert kpt_reg_last_conv(head) is head.kpt_reg_head[-1][-1]
    with pytest.raises(ValueError, match='no flip fusion'):
        DeepMarkPostprocess(head, (SIZE, SIZE), flip_indices=torch.arange(head.num_keypoints),
                            kpt_reg_features=True)
    head.kpt_reg_head[-1][-1] = torch.nn.Conv2d(head.kpt_reg_head[-1][-1].in_channels,
                                                2 * head.num_keypoints, 3, padding=1)
    assert kpt_reg_last_conv(head) is None  # export then keeps the whole kpt_reg map
    with pytest.raises(ValueError, match='plain 1x1'):
        DeepMarkPostprocess(head, (SIZE, SIZE), kpt_reg_features=True)
    with pytest.raises(ValueError, match='plain 1x1'):
        DeepMarkExportWrapper(model, kpt_reg_features=True)
    bias_free = torch.nn.Conv2d(head.kpt_reg_head[-1][-1].in_channels, 2 * head.num_keypoints, 1,
                                bias=False)
    head.kpt_reg_head[-1][-1] = bias_free
    assert kpt_reg_last_conv(head) is bias_free
    inputs = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        whole_map = DeepMarkPostprocess(head, (SIZE, SIZE))(*DeepMarkExportWrapper(model)(inputs))
        at_centres = DeepMarkPostprocess(head, (SIZE, SIZE), kpt_reg_features=True)(
            *DeepMarkExportWrapper(model, kpt_reg_features=True)(inputs))
    for expected, actual in zip(whole_map, at_centres):
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-4)
