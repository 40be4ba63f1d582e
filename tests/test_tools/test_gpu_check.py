# Copyright (c) deepmark_mm contributors. All rights reserved.
"""`gpu_check.py --quick` runs every step on the CPU and writes one report (so it cannot rot)."""
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
    assert all(step['status'] == 'ok' for step in steps.values())
    assert steps['device_tests']['summary'].startswith('3 passed')
    assert steps['train_amp']['iterations'] == 2 and steps['train_amp']['last_loss'] > 0
    timing = {k: v for k, v in steps['timing'].items() if k not in ('status', 'step_s')}
    assert sorted(timing) == ['dla34_dcn 128 fp32', 'hourglass_tiny 128 fp32']
    for row in timing.values():
        assert {'single_ms', 'flip_ms', 'flip_ms_ms', 'forward_ms'} <= set(row)
        assert all(value > 0 for value in row.values())
    assert steps['ddp']['skipped'].endswith('DDP needs 2 or more')
