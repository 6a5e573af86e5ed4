"""Figure captions; a light module, since the Snakefile imports it at every start."""

# Captions of the HTML report (`snakemake --report`): the claim tested and how to read it.
CAPTIONS = {
    "utility_vs_noise": "Claim C1. Test loss, test accuracy and measured FNR (class 0) against the target epsilon "
    "(non-private first, stronger privacy to the right). Rows: sweeps over the feature norm, the width m "
    "(trainable parameters) and the training-set size n. C1 predicts the loss rises and the FNR falls as "
    "epsilon shrinks, more so for weak features, wide models and small n.",
    "class_imbalance": "Claim C2. Test accuracy of the majority and minority class against the target epsilon, "
    "one panel per imbalance ratio. C2 predicts that the minority loses much more accuracy under DP while the "
    "non-private model serves both.",
    "long_tail": "Claim C3. Test accuracy of the head and tail subpopulation of class 0 against epsilon; top row "
    "by tail frequency, bottom row by tail feature norm. C3 predicts the tail loses more.",
    "adversarial": "Claim C4. PGD-l2 test loss and accuracy against the attack budget (units of the feature norm; "
    "0 is the clean test set), one line per epsilon. C4 predicts the adversarial loss grows with the DP noise "
    "faster than the clean loss.",
    "pretraining_shift": "Claim C5. Test accuracy of training from scratch and of DP fine-tuning a publicly "
    "pre-trained model, against the angle between public and private features, per epsilon. C5 predicts the "
    "gain of pre-training shrinks (and can reverse) as the shift grows.",
    "mitigations": "Claim C6. Test loss and measured FNR against epsilon, by augmentation multiplicity k (top) "
    "and frozen fraction of filters (bottom). C6 predicts both raise the FNR and lower the loss under DP.",
    "fnr_transition": "Claim C1 (FNR governs the loss). Test loss of every group of every synthetic run against "
    "its measured (left) and predicted (right) FNR. The dashed line is the FNR that best separates groups "
    "with accuracy of at least 95% from the rest.",
    "privacy_audit": "Privacy correctness. The accountant's epsilon and the empirical lower bound of a canary "
    "membership audit, for DP-SGD and two deliberately broken mechanisms that claim the same epsilon. The bound "
    "must stay below the accountant for DP-SGD and exceed it for the broken ones.",
    "real_class_imbalance": "Claim C2 on real images (scikit-learn digits unless configured otherwise). Test "
    "accuracy of the class reduced to a fraction of its training examples (digit 8, as in Bagdasaryan et al. 2019) "
    "and the mean over the other classes, against epsilon.",
    "real_long_tail": "Claim C3 on real images. Class 0 is made of two sources (digit 1 as head, digit 7 as a rare "
    "tail); test accuracy of each source against epsilon, per tail frequency.",
    "real_adversarial": "Claim C4 on real images. PGD-l2 (top) and PGD-linf (bottom) test loss and accuracy against "
    "the budget in pixel units (pixels in [0, 1]), one line per epsilon.",
    "real_pretraining_shift": "Claim C5 on real images. DP fine-tuning from a model pre-trained on held-out public "
    "images rotated by the given angle, against training from scratch, per epsilon.",
}
