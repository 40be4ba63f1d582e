# Copyright (c) deepmark_mm contributors. All rights reserved.
"""Checkpoint loading under torch >= 2.6: weights-only with an allow-list, full only if trusted."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import deepmark_mm  # noqa: F401  (registers the loader)
from deepmark_mm.utils import checkpoint_loading
from deepmark_mm.utils.checkpoint_loading import TRUST_ENV, load_checkpoint_file


class ArbitraryObject:
    """A class outside the allow-list: unpickling it could run any code."""

    def __init__(self, value: int):
        self.value = value


def runner_like_checkpoint() -> dict:
    """What MMEngine's runner writes: tensors plus HistoryBuffer and numpy data in the meta."""
    buffer = HistoryBuffer()
    buffer.update(0.5)
    buffer.update(0.25)
    return dict(
        meta=dict(epoch=2, iter=10, seed=0,
                  dataset_meta=dict(sigmas=np.arange(4, dtype=np.float32),
                                    flip_indices=np.array([1, 0, 2, 3]),
                                    classes=('a', 'b')),
                  best_score=np.float64(0.75)),
        state_dict=dict(weight=torch.arange(6.).reshape(2, 3)),
        message_hub=dict(log_scalars={'train/loss': buffer}, runtime_info=dict(epoch=2)))


def test_runner_checkpoint_loads_weights_only(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    path = tmp_path / 'epoch_2.pth'
    torch.save(runner_like_checkpoint(), path)
    # plain torch.load (what MMEngine 0.10.7 calls) rejects it under torch >= 2.6 ...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    # ... MMEngine's loader, as registered by deepmark_mm, reads every value back.
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert torch.equal(loaded['state_dict']['weight'], torch.arange(6.).reshape(2, 3))
    np.testing.assert_array_equal(loaded['meta']['dataset_meta']['sigmas'], np.arange(4))
    assert loaded['meta']['best_score'] == 0.75
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(0.375)


def test_untrusted_code_object_is_refused_with_file_name(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    path = tmp_path / 'foreign.pth'
    torch.save(dict(state_dict={}, extra=ArbitraryObject(3)), path)
    with pytest.raises(pickle.UnpicklingError, match='foreign.pth') as info:
        load_checkpoint_file(str(path))
    assert TRUST_ENV in str(info.value)


def test_trusted_checkpoint_is_fully_unpickled(tmp_path, monkeypatch):
    path = tmp_path / 'foreign.pth'
    torch.save(dict(extra=ArbitraryObject(3)), path)
    monkeypatch.setenv(TRUST_ENV, '1')
    assert load_checkpoint_file(str(path))['extra'].value == 3
    monkeypatch.delenv(TRUST_ENV)
    monkeypatch.setattr(checkpoint_loading, '_TRUSTED_PATHS', set())
    checkpoint_loading.trust_checkpoint(str(path))
    assert load_checkpoint_file(str(path))['extra'].value == 3


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        load_checkpoint_file(str(tmp_path / 'nothing.pth'))


def test_loader_is_registered_for_local_paths():
    assert CheckpointLoader._get_checkpoint_loader('/some/local/file.pth') is load_checkpoint_file


def test_getattr_is_restricted_to_history_buffer_statistics(tmp_path, monkeypatch):
    """A pickle that uses getattr on anything but a HistoryBuffer statistic is refused."""
    monkeypatch.delenv(TRUST_ENV, raising=False)

    class Sneaky:

        def __reduce__(self):
            return getattr, (np.ndarray, 'tofile')

    path = tmp_path / 'sneaky.pth'
    torch.save(dict(x=Sneaky()), path)
    with pytest.raises(pickle.UnpicklingError, match='sneaky.pth'):
        load_checkpoint_file(str(path))


def test_runner_checkpoint_loads_in_a_fresh_process(tmp_path):
    """HistoryBuffer registers its statistics lazily: loading must not depend on that."""
    import subprocess
    import sys
    path = tmp_path / 'epoch_1.pth'
    torch.save(runner_like_checkpoint(), path)
    code = ('import deepmark_mm; from mmengine.runner.checkpoint import _load_checkpoint; '
            f'c = _load_checkpoint({str(path)!r}); '
            "print(c['message_hub']['log_scalars']['train/loss'].mean())")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == '0.375'
