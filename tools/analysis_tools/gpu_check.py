#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Check deepmark_mm on a CUDA machine in one command and write one JSON report.

    python tools/analysis_tools/gpu_check.py            # any Python 3: sets up .venv first
    python tools/analysis_tools/gpu_check.py --quick    # CPU smoke run of every step (CI)

Steps, each timed and recorded (a failing step is reported, the others still run):

1. ``setup``: ``tools/setup_env.sh`` (the default PyPI torch is the CUDA build), then the
   script re-runs itself in the venv;
2. ``environment``: torch / CUDA / GPU names, whether mmcv has compiled ops;
3. ``device_tests``: ``tests/test_ops/test_device_parity.py`` with ``DEEPMARK_TEST_DEVICE`` set
   to the device (NMS, soft-NMS, DCNv2 forward / gradients, decoding and a detector forward on
   the device against the CPU);
4. ``train_amp``: the demo config for 200 iterations on the device with ``--amp`` on
   generated synthetic data;
5. ``timing``: DLA-34 (deformable up-path) and Hourglass-104 at 512 (random weights), single /
   flip / flip + multiscale, fp32 and fp16 autocast (``benchmark.py --task tta``);
6. ``ddp``: with 2 or more GPUs, 50 iterations of 2-process DDP through ``torchrun``.

Each step's record reads ``ok``, ``skipped`` (with why: the DDP step on fewer than 2 GPUs) or
``failed``; the exit status is 1 when any step failed, and the report's ``summary`` lists each.
``--quick`` runs the same steps tiny on whatever device there is (2 iterations, 128 px, one
repeat, fp32 only, a tiny Hourglass), so the script is exercised by the test suite and cannot rot.
"""
import argparse
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time
import traceback
from typing import Callable, Dict, List

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # _timing.py
sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))  # the synthetic set
DEMO_CONFIG = 'configs/deepmark/deepmark_dla46c_1xb8-4000it_synthetic-128.py'
TIMED_CONFIGS = {'dla34_dcn': 'configs/deepmark_dla34_512.py',
                 'hourglass104': 'configs/deepmark_hg_512.py'}
#: ``--quick`` times the same code paths on a small Hourglass.
QUICK_CONFIGS = {
    'dla34_dcn': 'configs/deepmark_dla34_512.py',
    'hourglass_tiny': 'configs/deepmark/deepmark_hourglass-tiny_1xb8-12e_synthetic-128.py'
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='One-command GPU check of deepmark_mm')
    parser.add_argument('--quick', action='store_true', help='tiny CPU-friendly run of every step')
    parser.add_argument('--no-setup', action='store_true',
                        help='use the running interpreter as is (no tools/setup_env.sh)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'gpu_check'))
    parser.add_argument('--out', help='report path (default: <work-dir>/report.json)')
    parser.add_argument('--device', help='torch device (default: cuda if available, else cpu)')
    return parser.parse_args()


def setup_and_reexec(args: argparse.Namespace) -> None:
    """Run ``tools/setup_env.sh`` and continue in its venv (unless already there)."""
    venv = os.environ.get('DEEPMARK_VENV', osp.join(REPO, '.venv'))
    python = osp.join(venv, 'bin', 'python')
    started = time.time()
    subprocess.run(['bash', osp.join(REPO, 'tools', 'setup_env.sh')], check=True)
    os.environ['DEEPMARK_GPU_CHECK_SETUP_S'] = f'{time.time() - started:.1f}'
    os.execv(python, [python, osp.abspath(__file__), *sys.argv[1:], '--no-setup'])


def run(cmd: List[str], log_file: str, env: Dict[str, str] = None, timeout: int = 1800) -> None:
    """Run ``cmd`` in the repository, its output to ``log_file``; raise with the log's tail."""
    merged = dict(os.environ, **(env or {}))
    merged['PYTHONPATH'] = os.pathsep.join(p for p in (REPO, merged.get('PYTHONPATH')) if p)
    with open(log_file, 'w', encoding='utf-8') as log:
        code = subprocess.run(cmd, cwd=REPO, env=merged, stdout=log, stderr=subprocess.STDOUT,
                              timeout=timeout).returncode
    if code != 0:
        with open(log_file, encoding='utf-8') as log:
            tail = log.read()[-3000:]
        raise RuntimeError(f'{" ".join(cmd[:3])} ... exited {code}; log {log_file}:\n{tail}')


def step_environment(ctx: dict) -> dict:
    import torch
    import torchvision

    from _timing import device_name

    from deepmark_mm.mmcv_ext_stub import mmcv_has_compiled_ops
    return dict(torch=torch.__version__, torchvision=torchvision.__version__,
                cuda=torch.version.cuda, cuda_available=torch.cuda.is_available(),
                gpus=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                device=device_name(ctx['device']), mmcv_compiled_ops=mmcv_has_compiled_ops(),
                setup_s=float(os.environ.get('DEEPMARK_GPU_CHECK_SETUP_S', 'nan')))


def step_device_tests(ctx: dict) -> dict:
    log = osp.join(ctx['work_dir'], 'device_tests.log')
    run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         'tests/test_ops/test_device_parity.py'], log, env=dict(DEEPMARK_TEST_DEVICE=ctx['device']))
    with open(log, encoding='utf-8') as file:
        summary = file.read().strip().splitlines()[-1]
    if 'skipped' in summary or 'passed' not in summary:  # a test not run checked nothing
        return dict(skipped=f'not every device test ran: {summary}', summary=summary, log=log)
    return dict(summary=summary, log=log)


def synthetic_data(ctx: dict) -> str:
    """Generate (once) a small synthetic DeepFashion2-format set for the training steps."""
    root = osp.join(ctx['work_dir'], 'data')
    if not osp.isfile(osp.join(root, 'validation', 'deepfashion2_validation.json')):
        from make_synthetic_deepfashion2 import make_synthetic_deepfashion2
        sizes = (16, 4) if ctx['quick'] else (1600, 50)
        workers = 0 if ctx['quick'] else len(os.sched_getaffinity(0))
        make_synthetic_deepfashion2(root, *sizes, size=128, seed=0, num_workers=workers)
    return root


def train_command(ctx: dict, work_dir: str, iters: int) -> List[str]:
    from make_synthetic_deepfashion2 import data_root_cfg_options
    return ['tools/train.py', DEMO_CONFIG, '--work-dir', work_dir, '--cfg-options',
            f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}',
            *data_root_cfg_options(synthetic_data(ctx))]


def last_logged(work_dir: str, key: str) -> float:
    """The last value of ``key`` in MMEngine's ``scalars.json`` under ``work_dir``."""
    found = float('nan')
    for folder, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(folder, 'scalars.json'), encoding='utf-8') as file:
                for line in file:
                    found = json.loads(line).get(key, found)
    return found


def last_loss(work_dir: str) -> float:
    """The last logged training loss; raises when there is none or it is not finite."""
    loss = last_logged(work_dir, 'loss')
    if not math.isfinite(loss):
        raise RuntimeError(f'training logged no finite loss under {work_dir} (last: {loss})')
    return loss


def step_train_amp(ctx: dict) -> dict:
    iters = 2 if ctx['quick'] else 200
    work_dir = osp.join(ctx['work_dir'], 'train_amp')
    amp = ['--amp'] if ctx['device'].startswith('cuda') else []
    started = time.time()
    run([sys.executable, *train_command(ctx, work_dir, iters), *amp],
        osp.join(ctx['work_dir'], 'train_amp.log'))
    return dict(iterations=iters, amp=bool(amp), seconds=round(time.time() - started, 1),
                last_loss=last_loss(work_dir),
                bbox_mAP=last_logged(work_dir, 'deepfashion2/bbox_mAP'))


def offline_options(config: str) -> List[str]:
    """``--cfg-options`` building ``config`` with random weights, without a download."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, config))
    if cfg.model.backbone.get('pretrained', False):
        return ['--cfg-options', 'model.backbone.pretrained=False']
    return []


def step_timing(ctx: dict) -> dict:
    side = 128 if ctx['quick'] else 512
    precisions = [False] if ctx['quick'] or not ctx['device'].startswith('cuda') else [False, True]
    results = {}
    for name, config in (QUICK_CONFIGS if ctx['quick'] else TIMED_CONFIGS).items():
        for fp16 in precisions:
            out = osp.join(ctx['work_dir'], f'timing_{name}_{"fp16" if fp16 else "fp32"}.json')
            cmd = [sys.executable, 'tools/analysis_tools/benchmark.py', config, '--task', 'tta',
                   '--shape', str(side), '--device', ctx['device'], '--out', out]
            cmd += offline_options(config)
            cmd += ['--warmup', '0', '--repeat', '1'] if ctx['quick'] else []
            cmd += ['--fp16'] if fp16 else []
            run(cmd, out.replace('.json', '.log'))
            with open(out, encoding='utf-8') as file:
                row = json.load(file)['results'][0]
            results[f'{name} {side} {"fp16" if fp16 else "fp32"}'] = {
                key: round(value, 2) for key, value in row.items() if key.endswith('_ms')}
    return results


def step_ddp(ctx: dict) -> dict:
    import torch
    if torch.cuda.device_count() < 2:
        return dict(skipped=f'{torch.cuda.device_count()} GPU(s): DDP needs 2 or more')
    work_dir = osp.join(ctx['work_dir'], 'ddp')
    started = time.time()
    run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
         *train_command(ctx, work_dir, 50), '--launcher', 'pytorch'],
        osp.join(ctx['work_dir'], 'ddp.log'))
    return dict(processes=2, iterations=50, seconds=round(time.time() - started, 1),
                last_loss=last_loss(work_dir))


#: A step's record: ``ok``, ``skipped`` (could not run here, e.g. DDP with one GPU; not a failure of
#: the exit status, counted apart in the report's ``summary``) or ``failed``.
STATUSES = ('ok', 'skipped', 'failed')
STEPS: Dict[str, Callable[[dict], dict]] = dict(
    environment=step_environment, device_tests=step_device_tests, train_amp=step_train_amp,
    timing=step_timing, ddp=step_ddp)


def run_step(step: Callable[[dict], dict], ctx: dict) -> dict:
    """Run one step; its record gets ``status``: ``'skipped'`` when it returned ``skipped`` (why),
    ``'failed'`` when it raised (with the error), else ``'ok'``, and ``step_s``."""
    started = time.time()
    try:
        result = step(ctx)
        result = dict(status='skipped' if 'skipped' in result else 'ok', **result)
    except Exception as error:  # record and go on: one report with every step
        result = dict(status='failed', error=f'{type(error).__name__}: {error}',
                      traceback=traceback.format_exc()[-2000:])
    result['step_s'] = round(time.time() - started, 1)
    return result


def main() -> int:
    args = parse_args()
    if not args.no_setup:
        setup_and_reexec(args)  # does not return
    import torch
    os.makedirs(args.work_dir, exist_ok=True)
    ctx = dict(quick=args.quick, work_dir=osp.abspath(args.work_dir),
               device=args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    report: Dict[str, object] = dict(quick=args.quick, device=ctx['device'], steps={})
    for name, step in STEPS.items():
        result = report['steps'][name] = run_step(step, ctx)
        print(f'[gpu_check] {name}: {result["status"]} ({result["step_s"]} s)', flush=True)
    report['summary'] = {status: [name for name, r in report['steps'].items()
                                  if r['status'] == status] for status in STATUSES}
    out = args.out or osp.join(ctx['work_dir'], 'report.json')
    with open(out, 'w', encoding='utf-8') as file:
        json.dump(report, file, indent=2)
    print(f'[gpu_check] {", ".join(f"{len(v)} {k}" for k, v in report["summary"].items())}; '
          f'wrote {out}')
    return 1 if report['summary']['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
