#!/usr/bin/env python
# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Install deepmark_mm.

``configs/``, ``tools/`` and ``model-index.yml`` are exposed as
``deepmark_mm/.mim/{configs,tools,model-index.yml}`` so that ``mim train deepmark_mm CONFIG`` /
``mim test`` find the configs and tools and ``mim search deepmark_mm`` lists the models: symbolic
links into the checkout (a wheel gets copies of the files they lead to; the checkout keeps its
links), see :func:`add_mim_extension`.
"""
import glob
import os
import os.path as osp
import shutil
from typing import List

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


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


def add_mim_extension(root: str = HERE) -> None:
    """Link ``configs``, ``tools``, ``model-index.yml`` and config ids into ``deepmark_mm/.mim``.

    ``.mim/ids/<config id>`` (a config file name without ``.py``, as ``mim search`` prints it)
    leads to its config, so that ``mim train deepmark_mm <config id>`` finds it. Links for every
    command: a build copies the files they lead to into its build folder (``package_data``), so
    the checkout keeps its links. Copies only where links cannot be made (Windows without symlink
    rights); an unpacked sdist (``.mim`` without ``configs/``) is left as it is.
    """
    mim_path = osp.join(root, 'deepmark_mm', '.mim')
    if not osp.isdir(osp.join(root, 'configs')):
        return
    configs = glob.glob(osp.join(root, 'configs', '**', '*.py'), recursive=True)
    links = {name: osp.join(root, name) for name in MIM_FILES}
    links.update({osp.join('ids', osp.basename(path)[:-3]): path for path in configs
                  if '_base_' not in osp.relpath(path, root).split(osp.sep)})
    shutil.rmtree(osp.join(mim_path, 'ids'), ignore_errors=True)  # drops ids of renamed configs
    os.makedirs(osp.join(mim_path, 'ids'))
    for name, src in links.items():
        dst = osp.join(mim_path, name)
        if osp.islink(dst) and osp.realpath(dst) == osp.realpath(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        try:
            os.symlink(osp.relpath(src, osp.dirname(dst)), dst, target_is_directory=osp.isdir(src))
        except OSError:  # e.g. Windows without symlink rights: fall back to a copy
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
                                      '.mim/configs/**/*.yml', '.mim/model-index.yml',
                                      '.mim/ids/*']},
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
            'pretrained': parse_requirements('pretrained'),
            'all': parse_requirements('tests') + parse_requirements('mim') +
            parse_requirements('onnx') + parse_requirements('pretrained'),
        },
        zip_safe=False)
