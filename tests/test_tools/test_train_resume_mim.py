# Copyright (c) deepmark_mm contributors. All rights reserved.
"""The toolbox end to end on a tiny generated set: mim resolution, train, kill + resume, test."""
import glob
import json
import math
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
METRIC_KEYS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_m', 'bbox_mAP_l', 'kpt_mAP',
               'kpt_mAP_50', 'kpt_mAP_75', 'kpt_vis_mAP', 'kpt_vis_mAP_50', 'kpt_vis_mAP_75')
MIM = [sys.executable, '-m', 'mim']


def synthetic_config_name() -> str:
    """The DLA-34 synthetic config shipped in configs/deepmark/."""
    pattern = REPO / 'configs' / 'deepmark' / 'deepmark_dla34_*_synthetic-128.py'
    found = sorted(glob.glob(str(pattern)))
    assert found, 'no DLA-34 synthetic config in configs/deepmark/'
    return osp.basename(found[0])


def run(cmd, cwd=REPO, env=None, **kwargs) -> subprocess.CompletedProcess:
    env = dict(env or os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                            text=True, **kwargs)
    assert result.returncode == 0, (
        f'{cmd} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory) -> Path:
    """A 64x64, 3-epoch, deterministic (no random augmentation) synthetic training config."""
    from make_synthetic_deepfashion2 import make_synthetic_deepfashion2
    root = tmp_path_factory.mktemp('tiny')
    data_root = root / 'data'
    make_synthetic_deepfashion2(str(data_root), num_train=8, num_val=4, size=64, seed=3)
    base = REPO / 'configs' / 'deepmark' / synthetic_config_name()
    config = root / 'tiny_synthetic.py'
    config.write_text(f'''
_base_ = [{str(base)!r}]
data_root = {str(data_root) + '/'!r}
pack = dict(type='PackDeepMarkInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
            'scale_factor', 'homography_matrix', 'flip', 'flip_direction', 'instances'))
pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadDeepFashion2Annotations'),
            dict(type='CenterAffine', input_size=64), pack]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=pipeline))
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'validation/deepfashion2_validation.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=3, val_interval=100)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=-1, save_best=None))
randomness = dict(seed=0, deterministic=True)
''')
    return config


def test_mim_resolves_tools_and_configs_by_name(monkeypatch):
    """After the editable install, mim finds tools/train.py, tools/test.py and a config by name."""
    import mim.commands.test  # noqa: F401
    import mim.commands.train  # noqa: F401
    from mim.utils import get_installed_path

    # mim.commands re-exports the functions under the module names: take the modules themselves
    mim_train, mim_test = sys.modules['mim.commands.train'], sys.modules['mim.commands.test']

    calls = []
    for module in (mim_train, mim_test):
        monkeypatch.setattr(module.subprocess, 'check_call',
                            lambda cmd, *a, **k: calls.append(cmd) or 0)
        monkeypatch.setattr(module.subprocess, 'check_output', lambda cmd, *a, **k: b'')
    name = 'deepmark_dla34_512.py'
    assert mim_train.train('deepmark_mm', name, gpus=0, other_args=('--work-dir', 'x'))[0]
    assert mim_test.test('deepmark_mm', name, checkpoint='c.pth', gpus=0, other_args=())[0]
    root = get_installed_path('deepmark_mm')
    train_cmd, test_cmd = calls
    assert osp.realpath(train_cmd[1]) == str(REPO / 'tools' / 'train.py')
    assert osp.realpath(test_cmd[1]) == str(REPO / 'tools' / 'test.py')
    assert train_cmd[2] == test_cmd[2] == str(REPO / 'configs' / name)
    assert osp.islink(osp.join(root, '.mim', 'configs'))  # editable: links, never stale copies


def test_mim_train_finds_the_config_ids_mim_search_prints(tmp_path, monkeypatch):
    """`mim train deepmark_mm <config id>` (an id as `mim search` prints it, no ``.py``) runs
    tools/train.py on that config, with deepmark_mm/.mim laid out by setup.py."""
    import mim.commands.train  # noqa: F401
    import yaml
    mim_train = sys.modules['mim.commands.train']
    for name in ('configs', 'tools', 'model-index.yml'):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / 'deepmark_mm').mkdir()
    sys.path.insert(0, str(REPO))
    try:
        from setup import add_mim_extension
    finally:
        sys.path.pop(0)
    add_mim_extension(str(tmp_path))
    monkeypatch.setattr(mim_train, 'get_installed_path', lambda _: str(tmp_path / 'deepmark_mm'))
    calls = []
    monkeypatch.setattr(mim_train.subprocess, 'check_call',
                        lambda cmd, *a, **k: calls.append(cmd) or 0)
    # mim asks `tools/train.py -h` for its flags: one real run is enough (it does not depend
    # on the config), the other models get its answer
    help_text = subprocess.check_output([sys.executable, str(REPO / 'tools' / 'train.py'), '-h'],
                                        cwd=REPO)
    monkeypatch.setattr(mim_train.subprocess, 'check_output', lambda cmd, *a, **k: help_text)
    models = yaml.safe_load((REPO / 'configs' / 'deepmark' / 'metafile.yml').read_text())['Models']
    for model in models:
        assert mim_train.train('deepmark_mm', model['Name'], gpus=0, other_args=())[0]
        assert osp.realpath(calls[-1][1]) == str(REPO / 'tools' / 'train.py')
        assert osp.realpath(calls[-1][2]) == str(REPO / model['Config'])
        assert calls[-1][3:] == ['--launcher', 'none']  # no --gpus in the help: no --device
    # a regular install holds copies: tools/train.py takes the copy's name as the config id
    from deepmark_mm.apis import resolve_config_path
    copy = tmp_path / 'copy' / models[0]['Name']
    copy.parent.mkdir()
    shutil.copyfile(REPO / models[0]['Config'], copy)
    assert osp.samefile(resolve_config_path(str(copy)), REPO / models[0]['Config'])


def test_regular_install_ships_tools_and_configs(tmp_path):
    """A non-editable build copies configs/, tools/ and the model index into deepmark_mm/.mim."""
    src = tmp_path / 'src'
    tracked = run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'])
    for rel in tracked.stdout.split():
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    mim = src / 'deepmark_mm' / '.mim'
    mim.mkdir()
    for name in ('configs', 'tools', 'model-index.yml'):  # as an editable install leaves them
        (mim / name).symlink_to(Path('..', '..', name))
    run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
         '-w', str(tmp_path / 'wheel'), str(src)], cwd=src)
    assert all((mim / name).is_symlink() for name in ('configs', 'tools', 'model-index.yml'))
    wheel = next((tmp_path / 'wheel').glob('deepmark_mm-*.whl'))
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in ('tools/train.py', 'tools/test.py', 'configs/deepmark_dla34_512.py',
                'configs/_base_/default_runtime.py', 'configs/deepmark/' + synthetic_config_name(),
                'model-index.yml', 'configs/deepmark/metafile.yml',
                'ids/' + synthetic_config_name()[:-3]):
        assert f'deepmark_mm/.mim/{rel}' in names, rel
    target = tmp_path / 'site'
    run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', str(target),
         str(wheel)])
    probe = run([sys.executable, '-c', 'from mim.utils import get_installed_path; '
                 'print(get_installed_path("deepmark_mm"))'], cwd=tmp_path,
                env=dict(os.environ, PYTHONPATH=str(target)))
    root = Path(probe.stdout.strip())
    assert root == target / 'deepmark_mm'
    assert (root / '.mim' / 'tools' / 'train.py').is_file()
    assert not (root / '.mim' / 'configs').is_symlink()
    search = run(MIM + ['search', 'deepmark_mm', '--valid-config'], cwd=tmp_path,
                 env=dict(os.environ, PYTHONPATH=str(target)))
    assert 'deepmark_hourglass104_8xb5-63e_deepfashion2-512' in search.stdout, search.stdout


@pytest.fixture(scope='module')
def full_run(tiny_config) -> Path:
    """The work dir of an uninterrupted `mim train` (the user's command) of ``tiny_config``:
    a checkpoint per epoch, shared by the resume and the `mim test` checks."""
    work_dir = tiny_config.parent / 'full'
    run(MIM + ['train', 'deepmark_mm', str(tiny_config), '--work-dir', str(work_dir)])
    return work_dir


def test_train_kill_resume_matches_uninterrupted_run(tiny_config, full_run, tmp_path):
    """Kill a run after its first checkpoint, --resume it: it ends where an uninterrupted run
    does."""
    full_dir, killed_dir = full_run, tmp_path / 'killed'
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.Popen([sys.executable, 'tools/train.py', str(tiny_config), '--work-dir',
                             str(killed_dir)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    last = killed_dir / 'last_checkpoint'  # written by CheckpointHook after each save
    while not (last.exists() and last.read_text().strip()) and proc.poll() is None:
        assert time.time() < deadline, 'training did not reach its first checkpoint'
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed_dir / 'epoch_3.pth').exists()
    resumed = run([sys.executable, 'tools/train.py', str(tiny_config), '--work-dir',
                   str(killed_dir), '--resume'])
    assert 'resumed epoch: ' in resumed.stdout + resumed.stderr

    from deepmark_mm.utils import load_checkpoint_file
    full = load_checkpoint_file(str(full_dir / 'epoch_3.pth'))
    again = load_checkpoint_file(str(killed_dir / 'epoch_3.pth'))
    assert full['meta']['epoch'] == again['meta']['epoch'] == 3
    assert full['meta']['iter'] == again['meta']['iter'] == 6
    assert full['state_dict'].keys() == again['state_dict'].keys()
    for key, value in full['state_dict'].items():
        torch.testing.assert_close(again['state_dict'][key], value, rtol=1e-5, atol=1e-6,
                                   msg=lambda m: f'{key}: {m}')
    assert full['param_schedulers'] == again['param_schedulers']
    steps = [s['step'] for s in full['optimizer']['state'].values()]
    assert steps and all(float(s) == 6 for s in steps)


def test_mim_test_reports_every_metric(tiny_config, full_run, tmp_path):
    """`mim test` on a checkpoint written by the runner reports all 11 DeepFashion2 metrics."""
    result = run(MIM + ['test', 'deepmark_mm', str(tiny_config), '--checkpoint',
                        str(full_run / 'epoch_1.pth'), '--work-dir', str(tmp_path / 'test')])
    logs = sorted((tmp_path / 'test').glob('*/*.json'))
    assert logs, result.stdout[-2000:]
    metrics = json.loads(logs[-1].read_text().strip().splitlines()[-1])
    for key in METRIC_KEYS:
        value = metrics[f'deepfashion2/{key}']
        if key.endswith(('_m', '_l')):  # NaN when the tiny val set has no box of that size
            assert math.isnan(value) or 0 <= value <= 1, (key, value)
        else:
            assert 0 <= value <= 1, (key, value)
