# Copyright (c) deepmark_mm contributors. All rights reserved.
"""A shortened run of the README's demo command: generate, train, test, TTA, draw, report."""
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_demo(tmp_path: Path, **env_overrides) -> subprocess.CompletedProcess:
    # the suite's own environment (tools/run_tests.sh set it up just before): no second set-up
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', DEMO_SKIP_SETUP='1',
               DEEPMARK_VENV=sys.prefix,
               DEMO_DATA=str(tmp_path / 'data'), DEMO_WORK=str(tmp_path / 'work'),
               DEMO_NUM_TRAIN='8', DEMO_NUM_VAL='4',
               DEMO_CFG_OPTIONS='max_iters=2 train_cfg.max_iters=2 train_cfg.val_interval=2 '
               'default_hooks.checkpoint.interval=2 train_dataloader.batch_size=4 '
               'train_dataloader.num_workers=0 train_dataloader.persistent_workers=False')
    env.update(env_overrides)
    return subprocess.run(['bash', 'tools/run_demo.sh'], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)


def test_shortened_demo_runs_end_to_end_and_reuses_its_work(tmp_path):
    first = run_demo(tmp_path)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    out = first.stdout
    for line in ('box mAP', 'landmark mAP (visible + occluded)', 'landmark mAP (visible only)'):
        assert line in out
    assert 'LEARNING BAR MISSED' in out  # 2 iterations on 8 images: reported, not an error
    work = tmp_path / 'work'
    assert (work / 'final.pth').is_file()
    drawings = sorted((work / 'vis' / 'vis').glob('*.jpg'))
    assert len(drawings) == 4  # every validation image drawn
    assert len(list((work / 'test_flip').glob('*/*.json'))) == 1

    second = run_demo(tmp_path)  # idempotent: data and checkpoint are reused, not redone
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    assert 'reusing the synthetic set' in second.stdout
    assert 'reusing the trained checkpoint' in second.stdout
    assert 'mim train' not in second.stdout.split('reusing the trained checkpoint')[0]


def test_readme_inferencer_snippet_names_the_demo_config_and_its_checkpoint():
    """README "Use a trained model" loads what tools/run_demo.sh trains: config and final.pth."""
    readme = (REPO / 'README.md').read_text()
    snippet = readme.split('## Use a trained model')[1].split('```')[1]
    found = re.search(r"DeepMarkInferencer\('([^']+)',\s*weights='([^']+)'", snippet)
    assert found, snippet
    script = (REPO / 'tools' / 'run_demo.sh').read_text()
    config = re.search(r'CONFIG=\$\{DEMO_CONFIG:-([^}]+)\}', script).group(1)
    work = re.search(r'WORK=\$\{DEMO_WORK:-([^}]+)\}', script).group(1)
    assert 'CKPT=$WORK/final.pth' in script
    assert found.groups() == (config, f'{work}/final.pth')
    assert (REPO / config).is_file()
