"""The paper's experiments (claims C1-C6 on the synthetic model and on real images), the pooled
FNR table and the privacy audit, registered in the order their claim tests are reported.

Thresholds live in the config (`claims.min_effect`), each with the sentence that says why its
size matters. The C1 test `trainable_parameters` and the C6 test `freezing_accuracy` compute the
same statistic from the same runs (the freezing sweep): they are one piece of evidence, not two.
"""

from __future__ import annotations

from dpharm.claims.rules import ABOVE, BELOW, FINDING, ClaimTest
from dpharm.experiments import paper_tests as t
from dpharm.experiments.registry import ANY_SWEEP, Experiment, register, register_claim

FIGURES = "dpharm.experiments.paper_figures"
FNR = "feature-to-noise ratio (FNR: mean over standard deviation of the output margin of a group's test examples)"
ACCURACY_DROP = "accuracy points lost under DP"

register_claim("C1", "DP-SGD noise lowers the FNR and raises the test error; the error is governed by the FNR, with a "
                     "sharp transition; more trainable parameters and less data make it worse")  # fmt: skip
register_claim("C2", "imbalanced FNRs cause disparate impact: the minority class loses much more accuracy under "
                     "DP")  # fmt: skip
register_claim("C3", "within a class, DP noise hurts the long-tailed (rare or weak-feature) subpopulation more "
                     "than the head")  # fmt: skip
register_claim("C4", "DP noise increases adversarial vulnerability faster than it raises the standard test error")
register_claim("C5", "public pre-training does not guarantee improvement: the gain shrinks as the feature shift grows")
register_claim("C6", "augmentation multiplicity and freezing raise the FNR and reduce the harm")
register_claim("privacy", "no empirical audit beats the accountant's epsilon, and the audit detects broken DP-SGD")


def _test(name, statement, metric, effect, **options) -> ClaimTest:
    return ClaimTest(name, statement, metric, effect, **options)


# C4 in accuracy and in loss, both primary, at the budget where the non-private model keeps about
# half its clean accuracy (chosen from the non-private runs: paper_tests.off_floor_radius).
OFF_FLOOR = "off-floor budget"
ADVERSARIAL_L2 = (
    _test(
        "adversarial",
        "DP costs more accuracy under PGD-l2 than on clean data",
        f"{ACCURACY_DROP}: attacked ({OFF_FLOOR}) minus clean",
        t.c4_adversarial,
    ),
    _test(
        "adversarial_loss",
        "DP raises the PGD-l2 loss more than the clean loss",
        f"nats of test loss gained under DP: attacked ({OFF_FLOOR}) minus clean",
        t.c4_adversarial_nats,
    ),
)
ADVERSARIAL_LINF = (
    _test("adversarial_linf", "DP costs more accuracy under PGD-linf than on clean data",
          f"{ACCURACY_DROP}: attacked ({OFF_FLOOR}) minus clean", t.c4_adversarial_linf),
    _test("adversarial_linf_loss", "DP raises the PGD-linf loss more than the clean loss",
          f"nats of test loss gained under DP: attacked ({OFF_FLOOR}) minus clean", t.c4_adversarial_linf_nats),
)  # fmt: skip


def register_image_designs(prefix: str, captions: dict[str, str], minority_metric: str = "") -> None:
    """The C2, C3 and C4 experiments on one real data set, `{prefix}_class_imbalance`,
    `{prefix}_long_tail` and `{prefix}_adversarial`: the same designs, tests and figures, with the
    data set's own captions (keys `class_imbalance`, `long_tail`, `adversarial`)."""
    register(
        Experiment(
            name=f"{prefix}_class_imbalance",
            claim="C2",
            figure=f"{FIGURES}:real_class_imbalance",
            caption=captions["class_imbalance"],
            tests=(
                _test(
                    "minority",
                    "the reduced class loses more accuracy than the others, beyond what it loses at "
                    "full representation",
                    f"difference in differences of {ACCURACY_DROP}{minority_metric}",
                    t.real_minority,
                ),
            ),
            shown_keys={ANY_SWEEP: frozenset({"data.minority_fraction"})},
        )
    )
    register(
        Experiment(
            name=f"{prefix}_long_tail",
            claim="C3",
            figure=f"{FIGURES}:real_long_tail",
            caption=captions["long_tail"],
            tests=(
                _test(
                    "rare_tail",
                    "the rare source of class 0 loses more accuracy than its head, beyond what it loses when frequent",
                    f"difference in differences of {ACCURACY_DROP}",
                    t.real_tail,
                ),
            ),
            shown_keys={ANY_SWEEP: frozenset({"data.tail_frequency"})},
        )
    )
    register(Experiment(
        name=f"{prefix}_adversarial", claim="C4", figure=f"{FIGURES}:adversarial", caption=captions["adversarial"],
        tests=(*ADVERSARIAL_L2, *ADVERSARIAL_LINF),
        shown_keys={ANY_SWEEP: frozenset()},
    ))  # fmt: skip


register(Experiment(
    name="utility_vs_noise", claim="C1", figure=f"{FIGURES}:utility_vs_noise",
    caption=(f"Claim C1. Test loss, test accuracy and the {FNR} of class 0 against the target epsilon "
             "(non-private first, stronger privacy to the right). Rows: sweeps over the feature norm, the width m "
             "(at a fixed learning rate, then with the learning rate scaled as 0.5 m) and the training-set size n. "
             "C1 predicts the error rises and the FNR falls as epsilon shrinks, more so for weak features and "
             "small n."),
    tests=(
        _test("noise", "DP noise raises the test error", f"{ACCURACY_DROP}, mean over "
              "feature norms", t.noise, secondary=t.noise_in_nats),
        _test("noise_fnr", "DP noise lowers the FNR", "1 - FNR_DP / FNR_non-private, mean "
              "over classes and feature norms", t.noise_lowers_fnr),
        _test("weak_features", "the harm is larger for weaker features",
              f"{ACCURACY_DROP}: min minus max feature norm", t.c1_weak_features),
        _test("data_size", "less data makes DP worse", f"{ACCURACY_DROP}: min minus max n",
              t.c1_data_size, secondary=t.c1_data_size_nats),
        _test("width_fixed_lr", "a wider model at the same learning rate (a finding of "
              "this model, not a test of the claim)", f"{ACCURACY_DROP}: max minus min width", t.c1_width_fixed_lr,
              rule=FINDING),
        _test("trainable_parameters_width", "more trainable parameters (a wider model, "
              "its learning rate scaled with m) make DP worse; secondary to the freezing test",
              f"{ACCURACY_DROP}: max minus min width", t.c1_width_scaled_lr),
    ),
    shown_keys={"feature_norm": frozenset({"data.feature_norm"}), "width": frozenset({"model.width"}),
                "width_scaled_lr": frozenset({"model.width", "training.learning_rate"}),
                "n_train": frozenset({"data.n_train"})},
))  # fmt: skip

register(Experiment(
    name="fnr_transition", claim="C1", figure=f"{FIGURES}:fnr_transition", configurable=False,
    caption=(f"Claim C1 (the error is governed by the FNR). Test error of every private group of every synthetic run "
             f"(each model once) against its {FNR}, measured (left) and predicted from the hyper-parameters (right), "
             "with the probit law error = Phi(-FNR)."),
    tests=(
        _test("governed_by_fnr", "test accuracy is a monotone function of the measured FNR",
              "Spearman correlation over every private group row (bootstrap over seeds)", t.governed_by_fnr,
              rule=ABOVE),
        _test("transition", "accuracy goes from chance to 95% within a narrow FNR range",
              "decades of FNR from 55% to 95% accuracy on a fitted probit curve (bootstrap over seeds)",
              t.transition, rule=BELOW),
    ),
))  # fmt: skip

register(Experiment(
    name="class_imbalance", claim="C2", figure=f"{FIGURES}:class_imbalance",
    caption=("Claim C2. Test accuracy of the majority and minority class against the target epsilon, one panel per "
             "imbalance ratio. C2 predicts that the minority loses much more accuracy under DP while the non-private "
             "model serves both."),
    tests=(_test("minority", "the minority class loses more accuracy than the majority "
                 "(largest imbalance)", f"{ACCURACY_DROP}: minority minus majority", t.minority),),
    shown_keys={ANY_SWEEP: frozenset({"data.imbalance_ratio"})},
))  # fmt: skip

register(Experiment(
    name="long_tail", claim="C3", figure=f"{FIGURES}:long_tail",
    caption=("Claim C3. Test accuracy of the head and tail subpopulation of class 0 against epsilon; top row by tail "
             "frequency, bottom row by tail feature norm. C3 predicts the tail loses more."),
    tests=(
        _test("rare_tail", "the rarest testable tail loses more accuracy than the head",
              f"{ACCURACY_DROP}: tail minus head", t.c3_rare_tail),
        _test("weak_tail", "the weakest testable tail loses more accuracy than the head",
              f"{ACCURACY_DROP}: tail minus head", t.c3_weak_tail),
    ),
    shown_keys={"rare_tail": frozenset({"data.tail_frequency"}), "weak_tail": frozenset({"data.tail_feature_norm"})},
))  # fmt: skip

register(Experiment(
    name="adversarial", claim="C4", figure=f"{FIGURES}:adversarial",
    caption=("Claim C4. PGD-l2 test loss and accuracy against the attack budget (units of the feature norm; 0 is the "
             "clean test set), one line per epsilon. C4 predicts DP costs more accuracy under attack than on clean "
             "data."),
    tests=ADVERSARIAL_L2,
    shown_keys={ANY_SWEEP: frozenset()},
))  # fmt: skip

register(Experiment(
    name="pretraining_shift", claim="C5", figure=f"{FIGURES}:pretraining_shift",
    caption=("Claim C5. Test accuracy of training from scratch and of DP fine-tuning a publicly pre-trained model, "
             "against the angle between public and private features, per epsilon. C5 predicts the gain of "
             "pre-training shrinks (and can reverse) as the shift grows."),
    tests=(
        _test("shrinks", "the gain of pre-training shrinks as the feature shift grows",
              "gain in accuracy points: smallest minus largest shift", t.shrinks),
        _test("no_guaranteed_gain", "at the largest shift pre-training gains less than "
              "min_effect", "gain in accuracy points at the largest shift (upper bound below threshold)",
              t.no_guaranteed_gain, rule=BELOW),
    ),
    shown_keys={ANY_SWEEP: frozenset({"data.shift_angle", "training.init"})},
))  # fmt: skip

register_image_designs("real", {
    "class_imbalance": ("Claim C2 on real images (scikit-learn digits unless configured otherwise). Test accuracy of "
                        "the class reduced to a fraction of its training examples (digit 8, as in Bagdasaryan et al. "
                        "2019) and the mean over the other classes, against epsilon."),
    "long_tail": ("Claim C3 on real images. Class 0 is made of two sources (digit 1 as head, digit 7 as a rare tail); "
                  "test accuracy of each source against epsilon, per tail frequency."),
    "adversarial": ("Claim C4 on real images. PGD-l2 (top) and PGD-linf (bottom) test loss and accuracy against the "
                    "budget in pixel units (pixels in [0, 1]), one line per epsilon."),
})  # fmt: skip

register(Experiment(
    name="real_pretraining_shift", claim="C5", figure=f"{FIGURES}:real_pretraining_shift",
    caption=("Claim C5 on real images. DP fine-tuning from a model pre-trained on held-out public images rotated by "
             "the given angle, against training from scratch, per epsilon."),
    tests=(
        _test("shrinks", "the gain of pre-training shrinks with the rotation",
              "gain in accuracy points: smallest minus largest rotation", t.shrinks),
        _test("no_guaranteed_gain", "at the largest rotation pre-training gains less "
              "than min_effect", "gain in accuracy points at the largest rotation (upper bound below threshold)",
              t.no_guaranteed_gain, rule=BELOW),
    ),
    shown_keys={ANY_SWEEP: frozenset({"data.shift_angle", "training.init"})},
))  # fmt: skip

register(Experiment(
    name="mitigations", claim="C6", figure=f"{FIGURES}:mitigations",
    caption=(f"Claim C6. Test loss and the {FNR} against epsilon, by augmentation multiplicity k (top) and frozen "
             "fraction of filters (bottom). C6 predicts both raise the FNR and reduce the DP harm. On the synthetic "
             "model an augmented view redraws the noise patches from the generating distribution: the theory's "
             "model of augmentation, an oracle that no real augmentation has."),
    tests=(
        _test("augmentation_accuracy", "augmentation multiplicity reduces the DP harm",
              f"{ACCURACY_DROP}: smallest augmented k (k > 1) minus largest k", t.c6_augmentation_accuracy,
              secondary=t.c6_augmentation_nats),
        _test("augmentation_fnr", "augmentation multiplicity raises the FNR",
              "FNR gained from the smallest augmented k (k > 1) to the largest",
              t.c6_augmentation_fnr),
        _test("freezing_accuracy", "freezing filters reduces the DP harm",
              f"{ACCURACY_DROP}: frozen fraction min minus max", t.c6_freezing_accuracy,
              secondary=t.c6_freezing_nats),
        _test("freezing_fnr", "freezing filters raises the FNR",
              "FNR gained from the smallest frozen fraction to the largest",
              t.c6_freezing_fnr),
        _test("trainable_parameters", "more trainable parameters (less freezing, same width) "
              "make DP worse; the same runs and statistic as freezing_accuracy",
              f"{ACCURACY_DROP}: frozen fraction min minus max", t.c1_trainable_parameters,
              claim="C1"),
    ),
    shown_keys={"augmentation": frozenset({"training.augmentation_multiplicity"}),
                "freezing": frozenset({"model.frozen_fraction"})},
))  # fmt: skip

# Fashion-MNIST at full size (docs/model.md, "Real images"): the designs of C2-C6 on 60,000
# training images. Same tests as on the digits (C2, C3, C4) or the synthetic model (C6).
register_image_designs("fashion", {
    "class_imbalance": ("Claim C2 on Fashion-MNIST. Test accuracy of Bag (label 8), kept at 100%, 10% and 3% of its "
                        "training images, and the mean over the other nine classes, against epsilon."),
    "long_tail": ("Claim C3 on Fashion-MNIST. Class 0 is footwear made of two sources, Sneaker (head) and Sandal "
                  "(tail, 5% or 20% of the class); Ankle boot stays a class of its own. Test accuracy of each source "
                  "against epsilon, per tail frequency."),
    "adversarial": ("Claim C4 on Fashion-MNIST. PGD-l2 (top) and PGD-linf (bottom) test loss and accuracy against the "
                    "budget in pixel units (pixels in [0, 1]), one line per epsilon."),
}, minority_metric=" (smallest testable fraction)")  # fmt: skip

register(Experiment(
    name="fashion_pretraining_shift", claim="C5", figure=f"{FIGURES}:public_data_shift",
    caption=("Claim C5 on Fashion-MNIST. DP fine-tuning from a model pre-trained on public data of growing shift "
             "(held-out Fashion-MNIST, the same rotated 90 degrees, scikit-learn's digits upscaled to 28x28), "
             "against training from scratch, per epsilon."),
    tests=(
        _test("shrinks", "the gain of pre-training shrinks from public data of "
              "the same source to another data set", "gain in accuracy points: held-out images minus digits",
              t.shrinks_to_another_dataset),
        _test("no_guaranteed_gain", "pre-training on another data set gains less "
              "than min_effect", "gain in accuracy points from the digits (upper bound below threshold)",
              t.no_guaranteed_gain_from_another_dataset, rule=BELOW),
    ),
    shown_keys={"rotation": frozenset({"data.shift_angle", "training.init"}),
                "other_dataset": frozenset({"data.public_source", "training.init"})},
))  # fmt: skip

register(Experiment(
    name="fashion_mitigations", claim="C6", figure=f"{FIGURES}:mitigations",
    caption=(f"Claim C6 on Fashion-MNIST. Test loss and the {FNR} of class 0 against epsilon, by augmentation "
             "multiplicity k (top; views shifted by up to 2 pixels and flipped, averaged per example before "
             "clipping) and frozen fraction of filters (bottom)."),
    tests=(
        _test("augmentation_accuracy", "augmentation multiplicity reduces the DP harm",
              f"{ACCURACY_DROP}: smallest augmented k (k > 1) minus largest k", t.c6_augmentation_accuracy,
              secondary=t.c6_augmentation_nats),
        _test("augmentation_fnr", "augmentation multiplicity raises the FNR",
              "FNR gained from the smallest augmented k (k > 1) to the largest",
              t.c6_augmentation_fnr),
        _test("freezing_accuracy", "freezing filters reduces the DP harm",
              f"{ACCURACY_DROP}: frozen fraction min minus max", t.c6_freezing_accuracy,
              secondary=t.c6_freezing_nats),
        _test("freezing_fnr", "freezing filters raises the FNR",
              "FNR gained from the smallest frozen fraction to the largest",
              t.c6_freezing_fnr),
    ),
    shown_keys={"augmentation": frozenset({"training.augmentation_multiplicity"}),
                "freezing": frozenset({"model.frozen_fraction"})},
))  # fmt: skip

register(Experiment(
    name="privacy_audit", claim="privacy", figure=f"{FIGURES}:privacy_audit", configurable=False,
    caption=("Privacy correctness. The accountant's epsilon and the empirical lower bound of a canary membership "
             "audit, for DP-SGD and two deliberately broken mechanisms that claim the same epsilon. The bound must "
             "stay below the accountant for DP-SGD and exceed it for the broken ones."),
))  # fmt: skip
