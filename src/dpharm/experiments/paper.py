"""The paper's experiments (claims C1-C6 on the synthetic model and on real images), the pooled
FNR figure and the privacy audit, registered in the order their claim tests are reported."""

from __future__ import annotations

from dpharm import claims
from dpharm.claims import ClaimTest
from dpharm.experiments import ANY_SWEEP, Experiment, register

register(
    Experiment(
        name="utility_vs_noise",
        claim="C1",
        figure="dpharm.experiments.paper_figures:utility_vs_noise",
        caption=(
            "Claim C1. Test loss, test accuracy and measured FNR (class 0) against the target epsilon (non-"
            "private first, stronger privacy to the right). Rows: sweeps over the feature norm, the width m "
            "(trainable parameters) and the training-set size n. C1 predicts the loss rises and the FNR falls as "
            "epsilon shrinks, more so for weak features, wide models and small n."
        ),
        tests=(
            ClaimTest(
                "C1",
                "utility_vs_noise",
                "noise",
                "DP noise raises the test loss (weakest feature, smallest epsilon vs non-private)",
                "test_loss_change",
                claims.c1_noise,
            ),
            ClaimTest(
                "C1",
                "utility_vs_noise",
                "weak_features",
                "the loss increase is larger for weaker features (min vs max feature norm)",
                "test_loss_change difference",
                claims.c1_weak_features,
            ),
            ClaimTest(
                "C1",
                "utility_vs_noise",
                "width",
                "more trainable parameters make DP worse (max vs min width)",
                "test_loss_change difference",
                claims.c1_width,
            ),
            ClaimTest(
                "C1",
                "utility_vs_noise",
                "data_size",
                "less data makes DP worse (min vs max n)",
                "test_loss_change difference",
                claims.c1_data_size,
            ),
        ),
        shown_keys={
            "feature_norm": frozenset({"data.feature_norm"}),
            "width": frozenset({"model.width"}),
            "n_train": frozenset({"data.n_train"}),
        },
    )
)

register(
    Experiment(
        name="class_imbalance",
        claim="C2",
        figure="dpharm.experiments.paper_figures:class_imbalance",
        caption=(
            "Claim C2. Test accuracy of the majority and minority class against the target epsilon, one panel per "
            "imbalance ratio. C2 predicts that the minority loses much more accuracy under DP while the non-"
            "private model serves both."
        ),
        tests=(
            ClaimTest(
                "C2",
                "class_imbalance",
                "minority",
                "the minority class loses more accuracy than the majority (largest imbalance)",
                "test_accuracy_change majority - minority",
                claims.c2_minority,
            ),
        ),
        shown_keys={ANY_SWEEP: frozenset({"data.imbalance_ratio"})},
    )
)

register(
    Experiment(
        name="long_tail",
        claim="C3",
        figure="dpharm.experiments.paper_figures:long_tail",
        caption=(
            "Claim C3. Test accuracy of the head and tail subpopulation of class 0 against epsilon; top row by "
            "tail frequency, bottom row by tail feature norm. C3 predicts the tail loses more."
        ),
        tests=(
            ClaimTest(
                "C3",
                "long_tail",
                "rare_tail",
                "the rare tail subpopulation loses more accuracy than the head",
                "test_accuracy_change head - tail",
                claims.c3_tail,
            ),
            ClaimTest(
                "C3",
                "long_tail",
                "weak_tail",
                "a tail with a weaker feature loses more accuracy than the head",
                "test_accuracy_change head - tail",
                claims.c3_weak_tail,
            ),
        ),
        shown_keys={
            "rare_tail": frozenset({"data.tail_frequency"}),
            "weak_tail": frozenset({"data.tail_feature_norm"}),
        },
    )
)

register(
    Experiment(
        name="adversarial",
        claim="C4",
        figure="dpharm.experiments.paper_figures:adversarial",
        caption=(
            "Claim C4. PGD-l2 test loss and accuracy against the attack budget (units of the feature norm; 0 is "
            "the clean test set), one line per epsilon. C4 predicts the adversarial loss grows with the DP noise "
            "faster than the clean loss."
        ),
        tests=(
            ClaimTest(
                "C4",
                "adversarial",
                "adversarial_loss",
                "DP raises the adversarial test loss more than the clean test loss",
                "adversarial_loss change - test_loss change",
                claims.c4_adversarial,
            ),
        ),
        shown_keys={ANY_SWEEP: frozenset()},
    )
)

register(
    Experiment(
        name="pretraining_shift",
        claim="C5",
        figure="dpharm.experiments.paper_figures:pretraining_shift",
        caption=(
            "Claim C5. Test accuracy of training from scratch and of DP fine-tuning a publicly pre-trained model, "
            "against the angle between public and private features, per epsilon. C5 predicts the gain of pre-"
            "training shrinks (and can reverse) as the shift grows."
        ),
        tests=(
            ClaimTest(
                "C5",
                "pretraining_shift",
                "shift",
                "the accuracy gain of pre-training shrinks as the feature shift grows",
                "gain(theta min) - gain(theta max)",
                claims.c5_shift,
            ),
        ),
        shown_keys={ANY_SWEEP: frozenset({"data.shift_angle", "training.init"})},
    )
)

register(
    Experiment(
        name="real_class_imbalance",
        claim="C2",
        figure="dpharm.experiments.paper_figures:real_class_imbalance",
        caption=(
            "Claim C2 on real images (scikit-learn digits unless configured otherwise). Test accuracy of the "
            "class reduced to a fraction of its training examples (digit 8, as in Bagdasaryan et al. 2019) and "
            "the mean over the other classes, against epsilon."
        ),
        tests=(
            ClaimTest(
                "C2",
                "real_class_imbalance",
                "minority",
                "the reduced class loses more accuracy than the mean of the others",
                "test_accuracy_change majority mean - minority",
                claims.real_minority,
            ),
        ),
        shown_keys={ANY_SWEEP: frozenset({"data.minority_fraction"})},
    )
)

register(
    Experiment(
        name="real_long_tail",
        claim="C3",
        figure="dpharm.experiments.paper_figures:real_long_tail",
        caption=(
            "Claim C3 on real images. Class 0 is made of two sources (digit 1 as head, digit 7 as a rare tail); "
            "test accuracy of each source against epsilon, per tail frequency."
        ),
        tests=(
            ClaimTest(
                "C3",
                "real_long_tail",
                "rare_tail",
                "the rare second source of class 0 loses more accuracy than its head",
                "test_accuracy_change head - tail",
                claims.real_tail,
            ),
        ),
        shown_keys={ANY_SWEEP: frozenset({"data.tail_frequency"})},
    )
)

register(
    Experiment(
        name="real_adversarial",
        claim="C4",
        figure="dpharm.experiments.paper_figures:adversarial",
        caption=(
            "Claim C4 on real images. PGD-l2 (top) and PGD-linf (bottom) test loss and accuracy against the "
            "budget in pixel units (pixels in [0, 1]), one line per epsilon."
        ),
        tests=(
            ClaimTest(
                "C4",
                "real_adversarial",
                "adversarial_loss",
                "DP raises the PGD-l2 loss more than the clean loss",
                "adversarial_loss change - test_loss change",
                claims.c4_adversarial,
            ),
            ClaimTest(
                "C4",
                "real_adversarial",
                "adversarial_loss_linf",
                "DP raises the PGD-linf loss more than the clean loss",
                "adversarial_loss_linf change - test_loss change",
                claims.c4_adversarial_linf,
            ),
        ),
        shown_keys={ANY_SWEEP: frozenset()},
    )
)

register(
    Experiment(
        name="real_pretraining_shift",
        claim="C5",
        figure="dpharm.experiments.paper_figures:real_pretraining_shift",
        caption=(
            "Claim C5 on real images. DP fine-tuning from a model pre-trained on held-out public images rotated "
            "by the given angle, against training from scratch, per epsilon."
        ),
        tests=(
            ClaimTest(
                "C5",
                "real_pretraining_shift",
                "shift",
                "the gain of pre-training on rotated public images shrinks with the rotation",
                "gain(min rotation) - gain(max rotation)",
                claims.c5_shift,
            ),
        ),
        shown_keys={ANY_SWEEP: frozenset({"data.shift_angle", "training.init"})},
    )
)

register(
    Experiment(
        name="mitigations",
        claim="C6",
        figure="dpharm.experiments.paper_figures:mitigations",
        caption=(
            "Claim C6. Test loss and measured FNR against epsilon, by augmentation multiplicity k (top) and "
            "frozen fraction of filters (bottom). C6 predicts both raise the FNR and lower the loss under DP."
        ),
        tests=(
            ClaimTest(
                "C6",
                "mitigations",
                "augmentation_loss",
                "augmentation multiplicity lowers the DP test loss",
                "test_loss(k min) - test_loss(k max)",
                claims.augmentation_loss,
            ),
            ClaimTest(
                "C6",
                "mitigations",
                "augmentation_fnr",
                "augmentation multiplicity raises the FNR",
                "log FNR ratio",
                claims.augmentation_fnr,
            ),
            ClaimTest(
                "C6",
                "mitigations",
                "freezing_loss",
                "freezing filters lowers the DP test loss",
                "test_loss(f min) - test_loss(f max)",
                claims.freezing_loss,
            ),
            ClaimTest(
                "C6",
                "mitigations",
                "freezing_fnr",
                "freezing filters raises the FNR",
                "log FNR ratio",
                claims.freezing_fnr,
            ),
        ),
        shown_keys={
            "augmentation": frozenset({"training.augmentation_multiplicity"}),
            "freezing": frozenset({"model.frozen_fraction"}),
        },
    )
)

register(
    Experiment(
        name="fnr_transition",
        claim="C1",
        figure="dpharm.experiments.paper_figures:fnr_transition",
        caption=(
            "Claim C1 (FNR governs the loss). Test loss of every group of every synthetic run against its "
            "measured (left) and predicted (right) FNR. The dashed line is the FNR that best separates groups "
            "with accuracy of at least 95% from the rest."
        ),
        configurable=False,
    )
)

register(
    Experiment(
        name="privacy_audit",
        claim="privacy",
        figure="dpharm.experiments.paper_figures:privacy_audit",
        caption=(
            "Privacy correctness. The accountant's epsilon and the empirical lower bound of a canary membership "
            "audit, for DP-SGD and two deliberately broken mechanisms that claim the same epsilon. The bound must "
            "stay below the accountant for DP-SGD and exceed it for the broken ones."
        ),
        configurable=False,
    )
)
