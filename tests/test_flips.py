"""The pilot-against-confirmation table reports every flip."""

import pandas as pd

from dpharm.tools.flips import compare, main, render


def claim_tests_table(verdicts: dict) -> pd.DataFrame:
    return pd.DataFrame([{"claim": "C2", "experiment": e, "test": "minority", "dataset": "synthetic", "effect": 3.0,
                          "n_seeds": 5, "verdict": v} for e, v in verdicts.items()])  # fmt: skip


def test_a_flip_is_marked_and_counted_and_a_test_missing_from_one_side_shows_as_not_run():
    pilot = claim_tests_table({"a": "reproduced", "b": "reproduced"})
    confirmation = claim_tests_table({"a": "inconclusive", "b": "reproduced", "c": "not testable"})
    rows = compare(pilot, confirmation)
    assert rows.set_index("experiment")["flipped"].to_dict() == {"a": True, "b": False, "c": False}
    text = render(rows)
    assert "**inconclusive**" in text and "| not run |" in text
    assert "1 of 2 verdicts flipped" in text and "1 tests were run in one of them only" in text


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path, capsys):
    assert main([str(tmp_path / "nope.csv"), str(tmp_path / "nope.csv")]) == 2
    assert "error:" in capsys.readouterr().err


def test_dataset_compares_that_dataset_alone(tmp_path, capsys):
    pilot = pd.concat([claim_tests_table({"a": "reproduced"}), claim_tests_table({"b": "reproduced"})])
    pilot.loc[pilot["experiment"] == "b", "dataset"] = "fashion_mnist"
    confirmation = claim_tests_table({"b": "inconclusive"}).assign(dataset="fashion_mnist")
    pilot.to_csv(tmp_path / "pilot.csv", index=False)
    confirmation.to_csv(tmp_path / "confirmation.csv", index=False)
    files = [str(tmp_path / "pilot.csv"), str(tmp_path / "confirmation.csv")]
    assert main([*files, "--dataset", "fashion_mnist"]) == 0
    assert "1 of 1 verdicts flipped" in capsys.readouterr().out
    assert main([*files, "--dataset", "digits"]) == 2
    assert "no test in either file" in capsys.readouterr().err
