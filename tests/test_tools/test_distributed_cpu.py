# Copyright (c) deepmark_mm contributors. All rights reserved.
"""PyTorch DDP through MMEngine on CPU: 2 gloo processes (torchrun) train, resume, test, demo.

One shortened demo run through ``torchrun --nproc_per_node 2`` (``DEMO_LAUNCHER=torchrun``)
trains 4 iterations (checkpoints at 2 and 4) and evaluates the checkpoint three times; a recording
hook (``RecordRankHook``, below, imported by the child config) saves each rank's final parameters
and the image ids each rank's batches held. The tests then check the demo's output, the
all-reduce / rank-0 files / resume of its training, and its 5-image (odd) 2-process evaluation
against a 1-process one.
"""
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from make_synthetic_deepfashion2 import data_root_cfg_options

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / 'configs' / 'deepmark' / 'deepmark_dla46c_1xb8-4000it_synthetic-128.py'
METRIC_KEYS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_m', 'bbox_mAP_l', 'kpt_mAP',
               'kpt_mAP_50', 'kpt_mAP_75', 'kpt_vis_mAP', 'kpt_vis_mAP_50', 'kpt_vis_mAP_75')
NUM_TRAIN, NUM_VAL, NUM_ITERS, BATCH = 8, 5, 4, 2
TRAIN_OPTIONS = (f'max_iters={NUM_ITERS} train_cfg.max_iters={NUM_ITERS} '
                 'train_cfg.val_interval=1000 default_hooks.checkpoint.interval=2 '
                 'default_hooks.checkpoint.max_keep_ckpts=-1 default_hooks.logger.interval=1 '
                 f'train_dataloader.batch_size={BATCH} train_dataloader.num_workers=0 '
                 'train_dataloader.persistent_workers=False')
TORCHRUN = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
            '2']
TIMEOUT = 600

RECORD_HOOK = '''
import json
import os.path as osp

import torch
import torch.distributed as torch_dist
from mmdet.registry import HOOKS
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class RecordRankHook(Hook):
    """Per rank: the image ids of every batch, and the parameters at the end of training."""

    def __init__(self):
        self.seen = []

    def _record(self, data_batch):
        samples = data_batch['data_samples']
        if isinstance(samples[0], (list, tuple)):  # TTA: one sequence of the batch per view
            samples = samples[0]
        self.seen.append([int(s.img_id) for s in samples])

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._record(data_batch)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._record(data_batch)

    def _dump(self, runner, name, **extra):
        info = dict(seen=self.seen, world_size=get_world_size(),
                    backend=torch_dist.get_backend() if torch_dist.is_initialized() else None,
                    wrapper=type(runner.model).__name__, **extra)
        with open(osp.join(runner.work_dir, f'{name}_rank{get_rank()}.json'), 'w') as f:
            json.dump(info, f)

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save({k: v.detach().clone() for k, v in model.named_parameters()},
                   osp.join(runner.work_dir, f'parameters_rank{get_rank()}.pt'))
        self._dump(runner, 'train')

    def after_test(self, runner):
        self._dump(runner, 'test')
'''


def data_options(data: Path):
    return data_root_cfg_options(str(data))


def child_env(root: Path) -> dict:
    path = os.pathsep.join(p for p in (str(root), os.environ.get('PYTHONPATH')) if p)
    # CUDA_VISIBLE_DEVICES='': the CPU (gloo) path even on a machine with GPUs
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
                PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES='')


def run(cmd, env) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0, \
        f'{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}'
    return result


def last_metrics(work_dir: Path) -> dict:
    logs = sorted(work_dir.glob('*/*.json'))
    assert len(logs) == 1, logs
    metrics = json.JSONDecoder().raw_decode(logs[0].read_text().strip().splitlines()[-1])[0]
    return {key: metrics[f'deepfashion2/{key}'] for key in METRIC_KEYS}


def load_ranks(work_dir: Path, name: str):
    return [json.loads((work_dir / f'{name}_rank{rank}.json').read_text()) for rank in (0, 1)]


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    """The shortened demo through torchrun (2 gloo processes), with the recording hook."""
    root = tmp_path_factory.mktemp('ddp')
    (root / 'record_rank_hook.py').write_text(RECORD_HOOK)
    config = root / 'demo_recorded.py'
    config.write_text(f'''
_base_ = [{str(DEMO_CONFIG)!r}]
custom_imports = dict(imports=['deepmark_mm', 'deepmark_mm.cpu_training', 'record_rank_hook'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='ChannelsLastHook'), dict(type='RetainFreedMemoryHook'),
                dict(type='RecordRankHook')]
# the result files of the last evaluation (the demo's flip + multi-scale TTA one)
# one image per batch: a prediction then does not depend on which images share its batch (with
# the base's 8, 1 and 2 processes batch 5 and 3 + 3 images and a score moves in its 8th digit)
test_dataloader = dict(batch_size=1)
test_evaluator = dict(outfile_prefix={str(root / 'two_process' / 'results')!r})
''')
    env = dict(child_env(root), DEMO_LAUNCHER='torchrun', DEMO_NPROC='2', DEMO_SKIP_SETUP='1',
               DEEPMARK_VENV=sys.prefix, DEMO_CONFIG=str(config), DEMO_DATA=str(root / 'data'),
               DEMO_WORK=str(root / 'work'), DEMO_NUM_TRAIN=str(NUM_TRAIN),
               DEMO_NUM_VAL=str(NUM_VAL), DEMO_SIZE='64', DEMO_CFG_OPTIONS=TRAIN_OPTIONS)
    result = subprocess.run(['bash', 'tools/run_demo.sh'], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT)
    (root / 'demo_stdout.txt').write_text(result.stdout + result.stderr)
    return dict(root=root, config=config, env=child_env(root), data=root / 'data',
                work=root / 'work', result=result)


def test_demo_runs_through_torchrun(demo):
    """`DEMO_LAUNCHER=torchrun bash tools/run_demo.sh`: trains and tests with 2 processes."""
    result = demo['result']
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout
    assert 'training: torchrun --nproc_per_node 2 tools/train.py' in out
    assert out.count('torchrun --nproc_per_node 2 tools/test.py') == 3
    for line in ('box mAP', 'landmark mAP (visible + occluded)', 'landmark mAP (visible only)'):
        assert line in out
    work = demo['work']
    assert (work / 'final.pth').is_file()
    assert len(sorted((work / 'vis' / 'vis').glob('*.jpg'))) == NUM_VAL
    for test_dir in ('test_single', 'test_flip', 'test_flip_ms'):
        assert len(list((work / test_dir).glob('*/*.json'))) == 1, test_dir
        for rank in load_ranks(work / test_dir, 'test'):
            assert (rank['world_size'], rank['backend']) == (2, 'gloo')
            assert rank['wrapper'] == 'MMDistributedDataParallel'


def test_two_process_training_all_reduces_writes_once_and_resumes(demo):
    """Ranks see different images yet end bit-identical; rank 0 alone writes; --resume continues."""
    assert demo['result'].returncode == 0, 'the demo failed: see test_demo_runs_through_torchrun'
    from deepmark_mm.utils import load_checkpoint_file
    work = demo['work']
    ranks = load_ranks(work, 'train')
    for rank in ranks:
        assert (rank['world_size'], rank['backend']) == (2, 'gloo')
        assert rank['wrapper'] == 'MMDistributedDataParallel'
        assert [len(batch) for batch in rank['seen']] == [BATCH] * NUM_ITERS
    # the sampler shards: in every iteration the two ranks train on different images
    for batch0, batch1 in zip(ranks[0]['seen'], ranks[1]['seen']):
        assert not set(batch0) & set(batch1), (batch0, batch1)
    # the gradient all-reduce: different data, bit-identical parameters after 4 Adam steps
    params0, params1 = (torch.load(work / f'parameters_rank{r}.pt') for r in (0, 1))
    assert params0.keys() == params1.keys()
    for name, value in params0.items():
        assert torch.equal(value, params1[name]), name
    final = load_checkpoint_file(str(work / 'iter_4.pth'))
    first = load_checkpoint_file(str(work / 'iter_2.pth'))
    assert all(torch.equal(final['state_dict'][k], v) for k, v in params0.items())
    assert any(not torch.equal(first['state_dict'][k], v) for k, v in params0.items())

    # rank 0 alone writes checkpoints and the log: one file each, every iteration logged once
    assert {p.name for p in work.glob('*.pth')} == {
        'iter_2.pth', 'iter_4.pth', 'final.pth', 'best_deepfashion2_kpt_mAP_iter_4.pth'}
    logs = list(work.glob('*/*.log'))  # the training run's; test runs log under test_*/
    assert len(logs) == 1, logs
    text = logs[0].read_text()
    for it in range(1, NUM_ITERS + 1):
        assert text.count(f'Iter(train) [{it}/{NUM_ITERS}]') == 1, it

    # --resume from the 2-process checkpoint at iteration 2 ends where the uninterrupted run did
    resumed = demo['root'] / 'resumed'
    resumed.mkdir()
    shutil.copy(work / 'iter_2.pth', resumed / 'iter_2.pth')
    result = run(TORCHRUN + ['tools/train.py', str(demo['config']), '--launcher', 'pytorch',
                             '--work-dir', str(resumed), '--resume', str(resumed / 'iter_2.pth'),
                             '--cfg-options'] + data_options(demo['data']) + TRAIN_OPTIONS.split(),
                 demo['env'])
    log = next(resumed.rglob('*.log')).read_text()
    assert 'resumed epoch: 0, iter: 2' in log, result.stdout[-2000:]
    assert 'Iter(train) [2/4]' not in log and 'Iter(train) [4/4]' in log
    for rank, again in zip(ranks, load_ranks(resumed, 'train')):
        assert again['seen'] == rank['seen'][2:]  # the same batches as iterations 3 and 4
    again = load_checkpoint_file(str(resumed / 'iter_4.pth'))
    assert again['meta']['iter'] == final['meta']['iter'] == NUM_ITERS
    # it trained on from iteration 2's weights and Adam state (steps 3 and 4). Not asserted: the
    # same weights as the uninterrupted run -- the demo config's random flip / colour jitter draws
    # from the main process's RNG (num_workers=0 here), which --resume does not restore.
    assert any(not torch.equal(first['state_dict'][k], v) for k, v in again['state_dict'].items())
    steps = [float(s['step']) for s in again['optimizer']['state'].values()]
    assert steps and all(step == NUM_ITERS for step in steps)


def test_two_process_evaluation_equals_one_process(demo):
    """5 images on 2 ranks (one padded duplicate): the 11 metrics and every prediction exact."""
    assert demo['result'].returncode == 0, 'the demo failed: see test_demo_runs_through_torchrun'
    work = demo['work']
    two = load_ranks(work / 'test_flip_ms', 'test')
    seen0, seen1 = (sum(rank['seen'], []) for rank in two)
    # DefaultSampler pads 5 images to 6: each rank evaluates 3, one image twice overall
    assert len(seen0) == len(seen1) == 3
    assert len(set(seen0 + seen1)) == NUM_VAL and seen1[-1] == seen0[0]

    one_dir = demo['root'] / 'one_process'
    run([sys.executable, 'tools/test.py', str(demo['config']), str(work / 'final.pth'),
         '--work-dir', str(one_dir / 'work'), '--tta', '--cfg-options'] +
        data_options(demo['data']) +
        ['tta_scales=[1.0,1.25]', f'test_evaluator.outfile_prefix={one_dir / "results"}'],
        demo['env'])
    one_metrics, two_metrics = last_metrics(one_dir / 'work'), last_metrics(work / 'test_flip_ms')
    for key in METRIC_KEYS:
        a, b = one_metrics[key], two_metrics[key]
        assert a == b or (math.isnan(a) and math.isnan(b)), (key, a, b)
    for kind in ('bbox', 'keypoints'):
        ones = json.loads((one_dir / f'results.{kind}.json').read_text())
        twos = json.loads((demo['root'] / 'two_process' / f'results.{kind}.json').read_text())
        assert ones == twos, kind
        assert len({entry['image_id'] for entry in ones}) == NUM_VAL
