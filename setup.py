#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Install deepmark_mm.

``configs/``, ``tools/`` and ``model-index.yml`` are exposed as
``deepmark_mm/.mim/{configs,tools,model-index.yml}`` so that ``mim train deepmark_mm CONFIG`` /
``mim test`` find the configs and tools and ``mim search deepmark_mm`` lists the models: symbolic
links for editable installs (``setup.py develop`` and PEP 660 ``editable_wheel``), copies for every
other build.
"""
import os
import os.path as osp
import shutil
import sys
from typing import List

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')
EDITABLE_COMMANDS = ('develop', 'editable_wheel')
COPY_COMMANDS = ('install', 'sdist', 'bdist_wheel', 'build', 'build_py', 'egg_info', 'bdist_egg')


def readme() -> str:
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'deepmark_mm', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(name: str) -> List[str]:
    """Requirement lines of ``requirements/<name>.txt``, comments and blanks dropped."""
    path = osp.join(HERE, 'requirements', f'{name}.txt')
    with open(path, encoding='utf-8') as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def add_mim_extension() -> None:
    """Link or copy ``configs``, ``tools`` and ``model-index.yml`` into ``deepmark_mm/.mim``."""
    if any(cmd in sys.argv for cmd in EDITABLE_COMMANDS):
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in COPY_COMMANDS):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'deepmark_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(HERE, name)
        dst = osp.join(mim_path, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, mim_path), dst, target_is_directory=osp.isdir(src))
                continue
            except OSError:  # e.g. Windows without symlink rights: fall back to a copy
                pass
        if osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='deepmark_mm',
        version=get_version(),
        description='DeepMark one-shot clothing detection (boxes + landmarks) for MMDetection 3.x',
        long_description=readme(),
        long_description_content_type='text/markdown',
        keywords='computer vision, object detection, landmarks, fashion, DeepFashion2, CenterNet',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'tests.*')),
        include_package_data=True,
        package_data={'deepmark_mm': ['.mim/configs/**/*.py', '.mim/tools/**/*.py',
                                      '.mim/tools/**/*.sh', '.mim/configs/*.py',
                                      '.mim/tools/*.py', '.mim/tools/*.sh',
                                      '.mim/configs/**/*.yml', '.mim/model-index.yml']},
        python_requires='>=3.8',
        classifiers=[
            'License :: OSI Approved :: Apache Software License',
            'Programming Language :: Python :: 3',
            'Topic :: Scientific/Engineering :: Image Recognition',
        ],
        license='Apache License 2.0',
        install_requires=parse_requirements('runtime'),
        extras_require={
            'tests': parse_requirements('tests'),
            'mim': parse_requirements('mim'),
            'onnx': parse_requirements('onnx'),
            'all': parse_requirements('tests') + parse_requirements('mim') +
            parse_requirements('onnx'),
        },
        zip_safe=False)
