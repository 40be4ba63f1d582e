# Copyright (c) deepmark_mm contributors. All rights reserved.
"""MMEngine's runner with the project's checkpoint fit rule (``runner_type='DeepMarkRunner'``)."""
from typing import Callable, Optional, Union

from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from deepmark_mm.utils.checkpoint_loading import load_model_checkpoint


@RUNNERS.register_module()
class DeepMarkRunner(Runner):
    """A Runner whose ``load_from`` / resume / test checkpoints must fit the model
    (:func:`~deepmark_mm.utils.load_model_checkpoint`, not MMEngine's ``strict=False``) unless
    ``load_partial=True`` (ignored when resuming)."""

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False, revise_keys: Optional[list] = None) -> dict:
        """Load ``filename`` by the fit rule (``strict`` ignores ``load_partial``;
        ``revise_keys`` is ignored, a leading ``module.`` is stripped) and return it."""
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        partial = bool(self.cfg.get('load_partial', False)) and not (strict or self._resume)
        load_model_checkpoint(self.model, checkpoint, filename, self.cfg.filename or 'the config',
                              load_partial=partial)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint
