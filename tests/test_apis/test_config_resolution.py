# Copyright (c) deepmark_mm contributors. All rights reserved.
import os.path as osp

import pytest

from deepmark_mm.apis import config_resolution, load_deepmark_config, resolve_config_path

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_bare_name_with_or_without_py_finds_the_config(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # not the checkout: names must not depend on the cwd
    expected = osp.join(REPO, 'configs', 'deepmark_dla34_512.py')
    assert osp.samefile(resolve_config_path('deepmark_dla34_512'), expected)
    assert osp.samefile(resolve_config_path('deepmark_dla34_512.py'), expected)
    nested = resolve_config_path('deepmark_dla34_1xb8-12e_synthetic-128')
    assert osp.samefile(
        nested, osp.join(REPO, 'configs', 'deepmark', 'deepmark_dla34_1xb8-12e_synthetic-128.py'))


def test_paths_relative_to_configs_and_real_paths(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    relative = 'configs/deepmark/deepmark_hourglass-tiny_1xb8-12e_synthetic-128.py'
    assert osp.samefile(resolve_config_path(relative), osp.join(REPO, relative))
    assert osp.samefile(resolve_config_path(relative[len('configs/'):]), osp.join(REPO, relative))
    own = tmp_path / 'mine.py'
    own.write_text('model = dict(type="X")\n')
    assert resolve_config_path(str(own)) == str(own)


def test_unknown_and_base_only_names_are_not_found():
    with pytest.raises(FileNotFoundError, match='no_such_config'):
        resolve_config_path('no_such_config')
    # _base_ pieces are not complete configs: a bare name never resolves to them
    with pytest.raises(FileNotFoundError, match='default_runtime'):
        resolve_config_path('default_runtime')


def test_ambiguous_name_lists_the_candidates(monkeypatch, tmp_path):
    for sub in ('a', 'b'):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / 'twin.py').write_text('model = dict()\n')
    monkeypatch.setattr(config_resolution, 'config_search_dirs', lambda: [str(tmp_path)])
    with pytest.raises(ValueError, match=r'ambiguous.*a/twin\.py.*b/twin\.py'):
        resolve_config_path('twin')


def test_a_linked_mim_configs_folder_is_searched_once(monkeypatch, tmp_path):
    (tmp_path / 'configs').mkdir()
    (tmp_path / 'pkg' / '.mim').mkdir(parents=True)
    (tmp_path / 'pkg' / '.mim' / 'configs').symlink_to(tmp_path / 'configs')
    monkeypatch.setattr(config_resolution, '_PACKAGE_DIR', str(tmp_path / 'pkg'))
    assert config_resolution.config_search_dirs() == [str(tmp_path / 'configs')]


def test_load_merges_options_and_requires_a_model(tmp_path):
    cfg = load_deepmark_config('deepmark_dla34_1xb8-12e_synthetic-128', {'model.test_cfg.topk': 7})
    assert cfg.model.test_cfg.topk == 7
    assert cfg.model.neck.use_dcn is False
    again = load_deepmark_config(cfg, {'model.test_cfg.topk': 3})
    assert (again.model.test_cfg.topk, cfg.model.test_cfg.topk) == (3, 7)  # copied, not shared
    no_model = tmp_path / 'empty.py'
    no_model.write_text('x = 1\n')
    with pytest.raises(KeyError, match='no "model"'):
        load_deepmark_config(str(no_model))
