"""The pilot-against-confirmation table reports every flip."""

import pandas as pd

from dpharm.tools.flips import compare, main, render


def claim_tests_table(verdicts: dict) -> pd.DataFrame:
    return pd.DataFrame([{"claim": "C2", "experiment": e, "test": "minority", "dataset": "synthetic", "effect": 3.0,
                          "n_seeds": 5, "verdict": v} for e, v in verdicts.items()])  # fmt: skip


def test_a_flip_is_marked_and_counted_and_a_test_missing_from_one_side_still_shows():
    pilot = claim_tests_table({"a": "reproduced", "b": "reproduced"})
    confirmation = claim_tests_table({"a": "inconclusive", "b": "reproduced", "c": "not testable"})
    rows = compare(pilot, confirmation)
    assert rows.set_index("experiment")["flipped"].to_dict() == {"a": True, "b": False, "c": True}
    text = render(rows)
    assert "**inconclusive**" in text and "2 of 3 verdicts flipped" in text


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path, capsys):
    assert main([str(tmp_path / "nope.csv"), str(tmp_path / "nope.csv")]) == 2
    assert "error:" in capsys.readouterr().err
