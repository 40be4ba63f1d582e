# Copyright (c) deepmark_mm contributors. All rights reserved.
"""`gpu_check.py --quick` runs every step on the CPU and writes one report (so it cannot rot)."""
import importlib.util
import json
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_quick_gpu_check_runs_every_step_and_reports(tmp_path):
    out = tmp_path / 'report.json'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'analysis_tools', 'gpu_check.py'), '--quick',
         '--no-setup', '--device', 'cpu', '--work-dir', str(tmp_path), '--out', str(out)],
        capture_output=True, text=True, timeout=900)
    report = json.loads(out.read_text())
    steps = report['steps']
    assert proc.returncode == 0, json.dumps(steps, indent=1)[-4000:]
    assert list(steps) == ['environment', 'device_tests', 'train_amp', 'timing', 'ddp']
    assert [n for n, step in steps.items() if step['status'] != 'ok'] == ['ddp']
    assert report['summary'] == dict(ok=list(steps)[:4], skipped=['ddp'], failed=[])
    assert steps['device_tests']['summary'].startswith('3 passed')
    assert steps['train_amp']['iterations'] == 2 and steps['train_amp']['last_loss'] > 0
    timing = {k: v for k, v in steps['timing'].items() if k not in ('status', 'step_s')}
    assert sorted(timing) == ['dla34_dcn 128 fp32', 'hourglass_tiny 128 fp32']
    for row in timing.values():
        assert {'single_ms', 'flip_ms', 'flip_ms_ms', 'forward_ms'} <= set(row)
        assert all(value > 0 for value in row.values())
    assert steps['ddp']['status'] == 'skipped'
    assert steps['ddp']['skipped'].endswith('DDP needs 2 or more')


def _gpu_check():
    spec = importlib.util.spec_from_file_location(
        'gpu_check', osp.join(REPO, 'tools', 'analysis_tools', 'gpu_check.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_step_reads_ok_skipped_or_failed(tmp_path, monkeypatch, capsys):
    """A skipped step (DDP on this machine with fewer than 2 GPUs) never reads ok; only a failed
    one fails the exit status."""
    gpu_check = _gpu_check()
    assert gpu_check.run_step(gpu_check.step_ddp, dict(quick=True))['status'] == 'skipped'

    def fail(ctx):
        raise RuntimeError('broken')

    out = tmp_path / 'report.json'
    argv = ['gpu_check.py', '--quick', '--no-setup', '--work-dir', str(tmp_path), '--out', str(out)]
    monkeypatch.setattr(sys, 'argv', argv)
    monkeypatch.setattr(gpu_check, 'STEPS', dict(a=lambda ctx: dict(x=1), ddp=gpu_check.step_ddp))
    assert gpu_check.main() == 0
    report = json.loads(out.read_text())
    assert report['summary'] == dict(ok=['a'], skipped=['ddp'], failed=[])
    assert '1 ok, 1 skipped, 0 failed' in capsys.readouterr().out
    monkeypatch.setattr(gpu_check, 'STEPS', dict(a=fail, ddp=gpu_check.step_ddp))
    assert gpu_check.main() == 1
    report = json.loads(out.read_text())
    assert report['steps']['a']['status'] == 'failed' and 'broken' in report['steps']['a']['error']


def test_unchecked_results_do_not_read_ok(tmp_path, monkeypatch):
    """Device tests that skipped read skipped; a training without a finite loss fails."""
    gpu_check = _gpu_check()
    monkeypatch.setattr(gpu_check, 'run', lambda cmd, log, **kw: open(log, 'w').write(
        '3 skipped in 0.1s\n'))
    ctx = dict(work_dir=str(tmp_path), device='cuda', quick=True)
    assert gpu_check.run_step(gpu_check.step_device_tests, ctx)['status'] == 'skipped'
    result = gpu_check.run_step(gpu_check.step_train_amp, ctx)  # "trains", logs no loss
    assert result['status'] == 'failed' and 'no finite loss' in result['error']
