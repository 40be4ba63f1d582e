# Copyright (c) deepmark_mm contributors. All rights reserved.
"""int8 round trip of exported graphs; the runner takes raw-map and postprocess graphs."""
import numpy as np
import onnx
import pytest

from deepmark_mm.apis import image_files
from deepmark_mm.deployment import (INPUT_NAME, OUTPUT_NAMES, OnnxDeepMark, create_session,
                                    export_onnx, preprocessed_batches, quantize_onnx)
from deepmark_mm.deployment.onnx_export import POSTPROCESS_PREFIX

#: Same model as the ``exported`` fixture (tests/test_deployment/conftest.py).
SYNTHETIC_CONFIG = 'deepmark/deepmark_dla34_1xb8-12e_synthetic-128.py'
SMALL_DECODE = {'model.test_cfg.topk': 8, 'model.test_cfg.max_per_img': 8}


@pytest.fixture(scope='module')
def postprocess_file(exported, tmp_path_factory):
    onnx_file = str(tmp_path_factory.mktemp('post') / 'random_post.onnx')
    export_onnx(SYNTHETIC_CONFIG, None, onnx_file, cfg_options=SMALL_DECODE,
                model=exported['model'], postprocess=True, verify=False)
    return onnx_file


def calibration(exported, deploy_images):
    images = image_files(str(deploy_images['folder']))[:2]
    return list(preprocessed_batches(images, exported['model'].cfg, (128, 128)))


def test_int8_network_stays_close_to_float(exported, deploy_images, tmp_path):
    batches = calibration(exported, deploy_images)
    int8_file, stale_file = str(tmp_path / 'random_int8.onnx'), str(tmp_path / 'stale.onnx')
    stale = onnx.load(exported['onnx_file'])
    stale.metadata_props.add(key='quantization', value='stale')
    onnx.save(stale, stale_file)
    info = quantize_onnx(stale_file, int8_file, batches)
    assert info['int8_bytes'] < info['float_bytes'] / 3  # int8 weights
    graph = onnx.load(int8_file)
    assert sum(n.op_type == 'QuantizeLinear' for n in graph.graph.node) > 50
    keys = [p.key for p in graph.metadata_props]
    assert keys.count('quantization') == 1  # replaced, not added
    metadata = {p.key: p.value for p in graph.metadata_props}
    assert metadata['input_hw'] == '128,128' and 'int8' in metadata['quantization']
    feed = {INPUT_NAME: batches[0]}
    float_maps = create_session(exported['onnx_file'], num_threads=1).run(None, feed)
    int8_maps = create_session(int8_file, num_threads=1).run(None, feed)
    # one uint8 step of a tensor is 1/255 of its calibrated range; about 40 quantized layers
    # add such errors, so each map stays within 10 % of its range (float: exact)
    for ours, theirs in zip(int8_maps, float_maps):
        spread = theirs.max() - theirs.min()
        assert np.abs(ours - theirs).max() < 0.1 * spread + 1e-6
        assert np.abs(ours - theirs).max() > 0  # it is quantized


def _map_outputs_quantized(onnx_file):
    """Per map: whether its last convolution writes uint8 (a ``Q -> DQ`` pair before the map or
    its sigmoid) rather than float."""
    graph = onnx.load(onnx_file).graph
    produced_by = {output: node for node in graph.node for output in node.output}
    quantized = []
    for name in OUTPUT_NAMES:
        node = produced_by[name]
        while node.op_type in ('Sigmoid', 'Identity', 'Gather'):
            node = produced_by[node.input[0]]
        assert node.op_type in ('Conv', 'DequantizeLinear'), (name, node.op_type)
        quantized.append(node.op_type == 'DequantizeLinear')
    return quantized


def test_map_convs_float_by_default_int8_on_request(exported, deploy_images, tmp_path):
    batches = calibration(exported, deploy_images)
    default_file, some_file = str(tmp_path / 'default.onnx'), str(tmp_path / 'int8_maps.onnx')
    default = quantize_onnx(exported['onnx_file'], default_file, batches)
    some = quantize_onnx(exported['onnx_file'], some_file, batches,
                         int8_maps=('kpt_reg', 'kpt_heatmap'))
    assert _map_outputs_quantized(default_file) == [False] * 6
    assert _map_outputs_quantized(some_file) == [name in ('kpt_reg', 'kpt_heatmap')
                                                 for name in OUTPUT_NAMES]
    # two convolutions left the float list; the heatmap sigmoid after one stays float
    assert default['float_nodes'] - some['float_nodes'] == 2
    metadata = {p.key: p.value for p in onnx.load(some_file).metadata_props}
    assert metadata['quantization'].endswith('int8 map convolutions: kpt_reg,kpt_heatmap')
    feed = {INPUT_NAME: batches[0]}
    float_maps = create_session(exported['onnx_file'], num_threads=1).run(None, feed)
    for ours, theirs in zip(create_session(some_file, num_threads=1).run(None, feed), float_maps):
        assert np.abs(ours - theirs).max() < 0.1 * (theirs.max() - theirs.min()) + 1e-6
    with pytest.raises(ValueError, match='not maps'):
        quantize_onnx(exported['onnx_file'], some_file, batches, int8_maps=('heatmap', ))


def test_shared_channel_maps_stay_float(deploy_images, tmp_path):
    """A shared-channel head's landmark heatmaps reach the output through a ``Gather`` (the
    per-slot view of its 69 channels); the convolution and sigmoid behind it stay float too."""
    from deepmark_mm.deployment import build_detector
    config = 'deepmark/deepmark_dla46c_1xb8-4000it_synthetic-128_semantic-channels.py'
    model = build_detector(config, None)
    float_file, int8_file = str(tmp_path / 'semantic.onnx'), str(tmp_path / 'semantic_int8.onnx')
    export_onnx(config, None, float_file, input_shape=64, model=model, verify=False)
    producer = {out: node for node in onnx.load(float_file).graph.node for out in node.output}
    assert producer['kpt_heatmap'].op_type == 'Gather'
    images = image_files(str(deploy_images['folder']))[:2]
    batches = list(preprocessed_batches(images, model.cfg, (64, 64)))
    quantize_onnx(float_file, int8_file, batches)
    assert _map_outputs_quantized(int8_file) == [False] * 6
    quantize_onnx(float_file, int8_file, batches, int8_maps=('kpt_heatmap', ))
    assert _map_outputs_quantized(int8_file) == [name == 'kpt_heatmap' for name in OUTPUT_NAMES]


def test_int8_postprocess_keeps_decoding_in_float(exported, deploy_images, postprocess_file,
                                                  tmp_path):
    int8_file = str(tmp_path / 'random_post_int8.onnx')
    batches = calibration(exported, deploy_images)
    with pytest.raises(ValueError, match='no kpt_reg map'):  # its conv runs in the decoding
        quantize_onnx(postprocess_file, int8_file, batches, int8_maps=('kpt_reg', ))
    quantize_onnx(postprocess_file, int8_file, batches)
    graph = onnx.load(int8_file).graph
    produced_by = {output: node for node in graph.node for output in node.output}
    for node in graph.node:
        if node.name.startswith(POSTPROCESS_PREFIX):
            # decoding nodes read float tensors of the decoding graph or the float maps; the
            # kpt_reg branch's hidden features are int8 like any hidden layer's
            assert node.op_type not in ('QuantizeLinear', 'DequantizeLinear')
            for name in node.input:
                source = produced_by.get(name)
                assert source is None or source.op_type != 'DequantizeLinear' or \
                    name.startswith('kpt_reg_features'), (node.name, name)
    options = create_session(int8_file, spinning=False).get_session_options()
    assert options.get_session_config_entry('session.intra_op.allow_spinning') == '0'
    deployed = OnnxDeepMark(int8_file, SYNTHETIC_CONFIG, num_threads=1, show_progress=False,
                            cfg_options=SMALL_DECODE)
    prediction = deployed(deploy_images['files'][0], score_thr=0.0)['predictions'][0]
    assert 0 < len(prediction['labels']) <= 8


def test_runner_takes_either_graph(exported, deploy_images, postprocess_file):
    inputs = deploy_images['files'] + [deploy_images['array']]
    results = [
        OnnxDeepMark(onnx_file, SYNTHETIC_CONFIG, num_threads=1, show_progress=False,
                     cfg_options=SMALL_DECODE)(inputs, score_thr=0.0)['predictions']
        for onnx_file in (exported['onnx_file'], postprocess_file)
    ]
    for raw, decoded in zip(*results):
        assert raw['labels'] == decoded['labels'] and len(raw['labels']) == 8
        for key, atol in (('bboxes', 1e-3), ('keypoints', 1e-3), ('scores', 1e-5),
                          ('keypoint_scores', 1e-5)):
            np.testing.assert_allclose(decoded[key], raw[key], atol=atol, rtol=0, err_msg=key)
    with pytest.raises(ValueError, match='decodes with'):
        OnnxDeepMark(postprocess_file, SYNTHETIC_CONFIG, show_progress=False)
