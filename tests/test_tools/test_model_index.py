# Copyright (c) deepmark_mm contributors. All rights reserved.
"""``mim search deepmark_mm``: model-index.yml lists every model config, read by mim's own code."""
import glob
import os.path as osp
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def model_configs() -> dict:
    """Stem -> ``input_size`` of each config in configs/deepmark/ that defines a ``model``."""
    from mmengine.config import Config
    configs = {}
    for path in sorted(glob.glob(str(REPO / 'configs' / 'deepmark' / '*.py'))):
        config = Config.fromfile(path)
        if 'model' in config:
            configs[osp.splitext(osp.basename(path))[0]] = config['input_size']
    return configs


@pytest.fixture
def mim_search(tmp_path, monkeypatch):
    """mim's search module, seeing a deepmark_mm install laid out as setup.py leaves it.

    ``deepmark_mm/.mim/{configs,tools,model-index.yml}`` link to this checkout, as after
    ``pip install -e .``; mim's ``load_metadata_from_local`` then finds and parses the index.
    """
    import mim.commands.search  # noqa: F401
    search = sys.modules['mim.commands.search']  # mim.commands re-exports the function by name
    package = tmp_path / 'deepmark_mm'
    (package / '.mim').mkdir(parents=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        (package / '.mim' / name).symlink_to(REPO / name)
    monkeypatch.setattr(search, 'is_installed', lambda name: name == 'deepmark_mm')
    monkeypatch.setattr(search, 'get_installed_path', lambda name: str(package))
    return search


def test_mim_search_lists_every_model_config_with_its_path(mim_search):
    table = mim_search.get_model_info('deepmark_mm', local=True)
    configs = model_configs()
    assert len(configs) == 33  # every config in configs/deepmark/
    assert set(table.index) == set(configs)
    for stem, input_size in configs.items():
        config = table.loc[stem, 'config']
        assert config == f'configs/deepmark/{stem}.py'
        assert (REPO / config).is_file(), config
        assert table.loc[stem, 'model'] == 'deepmark'  # the collection, lower-cased by mim
        assert table.loc[stem, 'input_size'] == input_size, stem


def test_only_the_trained_cpu_models_have_results_and_no_model_has_weights(mim_search):
    table = mim_search.get_model_info('deepmark_mm', local=True)
    assert 'weight' not in table.columns  # mim adds the column only for non-empty Weights
    result_columns = [c for c in table.columns if '/' in c]
    assert sorted(result_columns) == ['deepfashion2 synthetic/box_ap',
                                      'deepfashion2 synthetic/landmark_ap',
                                      'fld lab photos/box_ap', 'fld lab photos/landmark_ap',
                                      'fld lab photos/pck@0.2']
    trained = table[result_columns].dropna(how='all')
    assert sorted(trained.index) == ['deepmark_dla46c_1xb8-4000it_synthetic-128',
                                     'deepmark_lite_1xb8-1200it_fld-lab-256',
                                     'deepmark_lite_1xb8-4000it_synthetic-128']
    # README: single scale, seed 0, AMD EPYC
    assert trained.loc['deepmark_dla46c_1xb8-4000it_synthetic-128'].tolist()[:2] == [81.64, 70.3]
    assert trained.loc['deepmark_lite_1xb8-4000it_synthetic-128'].tolist()[:2] == [83.17, 71.97]
    # docs/fld.md: ImageNet start, 27 held-out lab photos, AMD EPYC
    assert trained.loc['deepmark_lite_1xb8-1200it_fld-lab-256'].tolist()[2:] == [73.73, 25.7, 80.0]


def test_mim_search_filters_by_config_name(mim_search):
    stem = 'deepmark_hourglass104_8xb5-63e_deepfashion2-512'
    table = mim_search.get_model_info('deepmark_mm', configs=[stem], local=True)
    assert list(table.index) == [stem]
    assert table.loc[stem, 'epochs'] == 63 and table.loc[stem, 'batch_size'] == 40
