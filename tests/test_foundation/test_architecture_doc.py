# Copyright (c) deepmark_mm contributors. All rights reserved.
"""docs/architecture.md stays true: its paths, registered names and options exist, and it names
every component the package registers."""
import importlib
import inspect
import re
from pathlib import Path

import pytest
from mmdet import registry as mmdet_registry
from mmengine import registry as mmengine_registry

import deepmark_mm  # noqa: F401
import deepmark_mm.cpu_training  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / 'docs' / 'architecture.md').read_text()
REGISTRIES = ('MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'TASK_UTILS', 'VISUALIZERS', 'HOOKS',
              'OPTIM_WRAPPERS', 'PARAM_SCHEDULERS', 'RUNNERS')


def _registry(name):
    """mmdet's registry of that name (mmengine's for the runner)."""
    return getattr(mmdet_registry, name, None) or getattr(mmengine_registry, name)


def _registered_by_package():
    """{(registry, name)} of every class deepmark_mm registers, read off the registries."""
    found = set()
    for reg_name in REGISTRIES:
        for name, obj in _registry(reg_name).module_dict.items():
            if getattr(obj, '__module__', '').startswith('deepmark_mm'):
                found.add((reg_name, name))
    return found


DOC_NAMES = set(re.findall(r'`(' + '|'.join(REGISTRIES) + r')\.(\w+)`', DOC))
DOC_PATHS = sorted(set(re.findall(r'`((?:deepmark_mm|tools|configs|tests|docs)/[\w/.\-]*)`', DOC)))
DOC_OPTIONS = sorted(set(re.findall(r'`([A-Z]\w+)\((\w+)=\.\.\.\)`', DOC)))


def test_doc_names_something_of_each_kind():
    assert len(DOC_NAMES) >= 20 and len(DOC_PATHS) >= 15 and len(DOC_OPTIONS) >= 8


@pytest.mark.parametrize('path', DOC_PATHS)
def test_every_path_in_the_doc_exists(path):
    assert (REPO / path).exists(), f'docs/architecture.md names {path}, which does not exist'


def test_every_registered_name_in_the_doc_is_registered():
    missing = sorted(f'{reg}.{name}' for reg, name in DOC_NAMES
                     if _registry(reg).get(name) is None)
    assert not missing, f'docs/architecture.md names unregistered components: {missing}'


def test_the_doc_names_every_component_the_package_registers():
    absent = sorted(f'{reg}.{name}' for reg, name in _registered_by_package() - DOC_NAMES)
    assert not absent, f'registered but not in docs/architecture.md: {absent}'


@pytest.mark.parametrize('owner,option', DOC_OPTIONS)
def test_every_option_in_the_doc_exists(owner, option):
    """`Owner(option=...)` in the doc: Owner is a registered class or a deepmark_mm function that
    takes ``option``."""
    target = None
    for reg_name in REGISTRIES:
        target = target or _registry(reg_name).get(owner)
    if target is None:
        for module in ('deepmark_mm.models.task_modules', 'deepmark_mm.deployment',
                       'deepmark_mm.datasets'):
            target = target or getattr(importlib.import_module(module), owner, None)
    assert target is not None, f'docs/architecture.md: {owner} is neither registered nor exported'
    params = inspect.signature(target).parameters
    assert option in params, f'docs/architecture.md: {owner} takes no option {option!r}'
