# Copyright (c) deepmark_mm contributors. All rights reserved.
"""MMEngine's runner with the project's checkpoint fit rule (``runner_type='DeepMarkRunner'``)."""
from typing import Callable, Optional, Union

from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from deepmark_mm.utils.checkpoint_loading import load_model_checkpoint


@RUNNERS.register_module()
class DeepMarkRunner(Runner):
    """A :class:`~mmengine.runner.Runner` whose ``load_from`` / resume / test checkpoints must fit.

    MMEngine loads them with ``strict=False``: a checkpoint of another model gives partly random
    weights and plausible-looking wrong numbers. Here they go through
    :func:`~deepmark_mm.utils.load_model_checkpoint`: refused unless the config sets
    ``load_partial=True``, which resuming ignores (a resumed run continues the same model).
    """

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False, revise_keys: Optional[list] = None) -> dict:
        """Load ``filename`` into the model by the fit rule.

        Args:
            filename (str): Checkpoint path or URL.
            map_location (str | Callable): Passed to the checkpoint loader.
            strict (bool): Ignore ``load_partial`` (always strict).
            revise_keys (list, optional): Ignored; a leading ``module.`` is stripped.

        Returns:
            dict: The loaded checkpoint.
        """
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        partial = bool(self.cfg.get('load_partial', False)) and not (strict or self._resume)
        load_model_checkpoint(self.model, checkpoint, filename, self.cfg.filename or 'the config',
                              load_partial=partial)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint
