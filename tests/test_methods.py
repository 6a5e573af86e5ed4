"""Adding a training method touches one place: its registry entry (and its clipping class).
A toy method, registered here, is seen by the config schema and checks, the privacy audit's
mechanisms, the fair experiments' tests, the benchmark and the trainer."""

import pytest
import torch

from dpharm.measurement.privacy_audit import mechanisms
from dpharm.setup.config import ConfigError
from dpharm.setup.validation import registered_schema, validate_config
from dpharm.tools.benchmark import fair_methods
from dpharm.training.fair import Clipping, split_noise
from dpharm.training.members import Member
from dpharm.training.methods import TRAINING_METHODS, TrainingMethod, register_method
from dpharm.training.model import build_model
from dpharm.training.settings import ModelSettings, TrainingSettings
from dpharm.training.stacked import train_stack
from helpers import set_key


class HalfClipping(Clipping):
    """Toy: every clipped gradient at half weight (sensitivity C / 2)."""

    uniform = False

    def factors(self, norms, groups, included):
        self.bound = self.clip_norm / 2
        return super().factors(norms, groups, included) / 2


@pytest.fixture()
def toy_method():
    method = register_method(TrainingMethod("half-clipping", f"{__name__}:HalfClipping", "toy: half weights"))
    yield method
    del TRAINING_METHODS[method.name]


def test_a_registered_method_is_a_valid_config_value_and_an_unknown_one_is_refused(toy_method, default_config):
    schema = registered_schema()
    assert "half-clipping" in schema["$defs"]["training"]["properties"]["method"]["enum"]
    validate_config(set_key(default_config, "training.method", "half-clipping"))
    with pytest.raises(ConfigError, match="training.method"):
        validate_config(set_key(default_config, "training.method", "quarter-clipping"))


def test_a_registered_method_is_audited_benchmarked_and_has_no_extra_privacy_cost(toy_method):
    assert "half-clipping" in mechanisms() and "half-clipping" in fair_methods()
    split = split_noise("half-clipping", 3.0, share=0.1, epsilon=1.0, delta=1e-5, sample_rate=1.0, steps=5,
                        accountant="rdp")  # fmt: skip
    assert split.gradient == split.accounted == 3.0  # it releases nothing besides the gradient


def test_the_trainer_applies_a_registered_methods_clipping(toy_method):
    x = torch.randn(8, 2, 10, generator=torch.Generator().manual_seed(0))
    y = torch.arange(8) % 2
    steps = {}
    for method in ("dp-sgd", "half-clipping"):
        model = build_model(ModelSettings(width=3, init_std=0.1), 10, 2, seed=0)
        before = model.filters.weight.detach().clone()
        training = TrainingSettings(steps=1, learning_rate=1.0, batch_size=1000, clip_norm=0.1, delta=1e-5,
                                    method=method)  # fmt: skip
        train_stack([Member(model, x, y, 0, noise_multiplier=0.0)], training=training, device=torch.device("cpu"))
        steps[method] = model.filters.weight.detach() - before
    torch.testing.assert_close(steps["half-clipping"], steps["dp-sgd"] / 2)
