"""Figures say what they show: the data set in the title, legend titles in words."""

import math

import matplotlib
import pandas as pd

from dpharm.experiments import REGISTRY
from dpharm.plots import interval_of, legends_beside_the_data, name_the_data

matplotlib.use("Agg")


def mitigation_rows() -> pd.DataFrame:
    rows = []
    for sweep, column, values in (("augmentation", "augmentation_multiplicity", (1, 4)),
                                  ("freezing", "frozen_fraction", (0.0, 0.5))):  # fmt: skip
        for value in values:
            for seed in range(3):
                for epsilon in (math.inf, 3.0):
                    for metric, group in (("test_loss", "all"), ("fnr_measured", "class0")):
                        rows.append({"experiment": "fashion_mitigations", "dataset": "fashion_mnist",
                                     "sweep": sweep, column: value, "seed": seed, "epsilon": epsilon,
                                     "group": group, "metric": metric, "attack_radius": math.nan,
                                     "value": 1.0 + seed / 10})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_figure_names_its_data_set_and_its_legends_in_words():
    table = mitigation_rows()
    figure = REGISTRY["fashion_mitigations"].draw(table, interval_of(0.95))
    name_the_data(figure, table)
    legends_beside_the_data(figure)
    assert figure.get_suptitle().startswith("Fashion-MNIST. C6")
    titles = {ax.get_legend().get_title().get_text() for ax in figure.axes if ax.get_legend() is not None}
    assert titles == {"augmented views per example (k)", "share of filters frozen"}
