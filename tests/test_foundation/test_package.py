# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Importing the package registers every component; version guards name the supported ranges."""
import subprocess
import sys

import pytest

from deepmark_mm.version import (MMCV_RANGE, MMDET_RANGE, MMENGINE_RANGE, __version__,
                                 check_version)

COMPONENTS = {
    'MODELS': ('DeepMarkHead', 'TimmBackbone', 'DLAUpNeck', 'DeepMarkTTAModel'),
    'DATASETS': ('DeepFashion2Dataset', ),
    'TRANSFORMS': ('LoadDeepFashion2Annotations', 'RandomCenterAffine', 'CenterAffine',
                   'CenterNetColorJitter', 'PackDeepMarkInputs'),
    'METRICS': ('DeepFashion2Metric', ),
    'TASK_UTILS': ('DeepMarkCodec', ),
    'VISUALIZERS': ('DeepMarkVisualizer', ),
    'HOOKS': ('InitialWeightsCheckHook', 'KeypointSetCheckHook'),
}
#: Opt-in CPU-training components: registered by ``import deepmark_mm.cpu_training`` only.
CPU_TRAINING_COMPONENTS = {
    'MODELS': ('SparseRegressionDeepMarkHead', 'CenterNetFocalLoss'),
    'HOOKS': ('ChannelsLastHook', 'RetainFreedMemoryHook'),
    'OPTIM_WRAPPERS': ('BF16AutocastOptimWrapper', ),
}


def test_import_registers_every_component_in_mmdet_registries():
    """A fresh interpreter: nothing is registered before `import deepmark_mm`, all after."""
    names = repr(COMPONENTS)
    code = f'''
import mmdet.registry as r
components = {names}
before = [n for reg, ns in components.items() for n in ns if n in getattr(r, reg).module_dict]
import deepmark_mm
missing = [n for reg, ns in components.items() for n in ns
           if n not in getattr(r, reg).module_dict]
print(before, missing)
'''
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == '[] []'


def test_import_changes_nothing_but_registries_and_cpu_training_is_opt_in():
    """`import deepmark_mm` does not import the CPU-training package (the only code that calls
    glibc's ``mallopt``), registers none of its components and leaves torch's global settings
    alone; `import deepmark_mm.cpu_training` registers them."""
    code = f'''
import sys, torch
import mmdet.registry as r
settings = (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled(),
            torch.are_deterministic_algorithms_enabled())
import deepmark_mm
components = {repr(CPU_TRAINING_COMPONENTS)}
imported = sorted(m for m in sys.modules if m.startswith('deepmark_mm.cpu_training'))
registered = [n for reg, ns in components.items() for n in ns if n in getattr(r, reg).module_dict]
same = settings == (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled(),
                    torch.are_deterministic_algorithms_enabled())
import deepmark_mm.cpu_training
missing = [n for reg, ns in components.items() for n in ns
           if n not in getattr(r, reg).module_dict]
print(imported, registered, same, missing)
'''
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == '[] [] True []'


@pytest.mark.parametrize('installed,ok', [('3.3.0', True), ('3.3.9', True), ('3.2.0', False),
                                          ('3.4.0', False)])
def test_version_guard_accepts_the_range_and_names_it(installed, ok):
    if ok:
        check_version('mmdet', installed, MMDET_RANGE)
    else:
        with pytest.raises(ImportError, match=r'mmdet>=3\.3\.0,<3\.4\.0.*mmdet==' + installed):
            check_version('mmdet', installed, MMDET_RANGE)


def test_installed_stack_is_inside_the_supported_ranges():
    import mmcv
    import mmdet
    import mmengine
    check_version('mmengine', mmengine.__version__, MMENGINE_RANGE)
    check_version('mmcv', mmcv.__version__, MMCV_RANGE)
    check_version('mmdet', mmdet.__version__, MMDET_RANGE)
    assert __version__.count('.') == 2
