"""The seed-count tool against the standard power table of the one-sample t-test."""

import math

import pandas as pd
import pytest
from scipy import stats

from dpharm.tools.power import power_table, seeds_needed


def test_seeds_needed_matches_the_t_test_power_table():
    # two-sided 5%, power 80%: effect size 1 needs 10 observations, 0.5 needs 34 (G*Power's table)
    assert seeds_needed(1.0, 1.0) == 10
    assert seeds_needed(1.0, 0.5) == 34
    assert seeds_needed(2.0, 1.0) == seeds_needed(1.0, 0.5)


def test_the_pilot_sd_is_recovered_from_its_interval():
    sd, n, mean = 3.0, 5, 10.0
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    pilot = pd.DataFrame([{"claim": "C1", "experiment": "e", "test": "t", "verdict": "reproduced", "rule": "effect",
                           "effect": mean, "ci_low": mean - half, "ci_high": mean + half, "n_seeds": n,
                           "min_effect": 2.0}])  # fmt: skip
    (row,) = power_table(pilot).itertuples()
    assert row.sd == pytest.approx(sd) and row.distance == mean  # reproduced once the interval excludes 0
    assert row.seeds_needed == seeds_needed(sd, mean)


def test_the_command_line_explains_itself_and_refuses_a_missing_file(tmp_path, capsys):
    from dpharm.tools.power import argument_parser, main

    parser = argument_parser()
    assert parser.description and parser.prog == "python -m dpharm.tools.power"
    assert all(action.help for action in parser._actions)  # every argument has help text
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "missing.csv")])
    assert exit_.value.code == 2  # a usage error, not a traceback
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit):
        main([str(tmp_path / "other.csv")])
    assert "not a claim tests table" in capsys.readouterr().err
