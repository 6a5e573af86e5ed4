"""The one place that uses Opacus's private functions.

`SummedGradientDPOptimizer` feeds Opacus's DP optimizer a gradient sum that is already
clipped (`dpharm.training.stacked` computes it in closed form). It needs three private helpers of
`opacus.optimizers.optimizer`; they are protected only by the version pin, so
`tests/test_opacus_adapter.py` checks their signatures and behaviour and fails naming the
function if a new Opacus changes one.
"""

from __future__ import annotations

import torch
from opacus.optimizers import DPOptimizerFastGradientClipping
from opacus.optimizers.optimizer import _check_processed_flag, _generate_noise, _mark_as_processed

# name -> the parameters this module passes it (checked by the test).
PRIVATE_FUNCTIONS = {
    "_check_processed_flag": ("obj",),
    "_generate_noise": ("std", "reference", "generator", "secure_mode"),
    "_mark_as_processed": ("obj",),
}


class SummedGradientDPOptimizer(DPOptimizerFastGradientClipping):
    """Opacus's optimizer for an already-clipped gradient sum (its ghost-clipping optimizer),
    without the buffers a fresh sum every step does not need: the sum is taken over rather than
    deep-copied, and the noise is added in place. The noise is Opacus's draw: in secure mode its
    own `_generate_noise`, otherwise the same single `torch.normal` call that function makes,
    minus the zero buffer it allocates and discards (about 5% of a step here)."""

    def accumulate(self):
        """Add this step's clipped sum to `summed_grad`: the first sum becomes it (the parent deep-copies
        it), later ones are added in place."""
        for p in self.params:
            p.summed_grad = p.grad if p.summed_grad is None else p.summed_grad.add_(p.grad)

    def add_noise(self):
        """Add N(0, (noise_multiplier * max_grad_norm)^2) noise to the sum in place and make it `p.grad`."""
        std = self.noise_multiplier * self.max_grad_norm
        for p in self.params:
            _check_processed_flag(p.summed_grad)
            if self.secure_mode or std == 0:
                noise = _generate_noise(
                    std=std, reference=p.summed_grad, generator=self.generator, secure_mode=self.secure_mode
                )
            else:
                noise = torch.normal(
                    mean=0,
                    std=std,
                    size=p.summed_grad.shape,
                    device=p.summed_grad.device,
                    generator=self.generator,
                    dtype=p.summed_grad.dtype,
                )
            p.grad = p.summed_grad.add_(noise).view_as(p)
            _mark_as_processed(p.summed_grad)
