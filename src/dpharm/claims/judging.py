"""Judging: every registered claim test run on its experiment's table, the privacy audit's
tests, one verdict per claim and dataset, and the claims markdown (the HTML page:
`dpharm.reporting.claims_page`).

The rules themselves (what a verdict is) are in `dpharm.claims.rules`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from dpharm.claims.rules import (
    BROKEN_MECHANISMS,
    EFFECT_RULE,
    FINDING,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_TESTABLE,
    PRIVACY_AUDIT,
    REPRODUCED,
    ClaimTest,
    Context,
    Estimate,
    NotTestable,
    combine,
    interval,
    verdict,
)
from dpharm.experiments import claim_statements, claim_tests
from dpharm.experiments.fair_dpsgd import method_verdicts


def _outcome(test: ClaimTest, table: pd.DataFrame, context: Context) -> tuple[Estimate, float]:
    """The test's estimate and the mean of its secondary effect (NaN when it has none)."""
    result = test.effect(table, context)
    if isinstance(result, Estimate):
        return result, math.nan
    mean, low, high = interval(result, context.confidence)
    secondary = float(np.nanmean(test.secondary(table, context))) if test.secondary else math.nan
    return Estimate(mean, low, high, int(result.notna().sum())), secondary


TEST_COLUMNS = ["claim", "experiment", "dataset", "test", "statement", "metric", "rule", "effect", "ci_low",
                "ci_high", "n_seeds", "min_effect", "effect_nats", "verdict", "note", "fw_ci_low", "fw_ci_high",
                "fw_verdict"]  # fmt: skip


def test_row(test: ClaimTest, table: pd.DataFrame, threshold: float, context: Context) -> dict:
    """One row of claim_tests.csv."""
    context = replace(context, min_effect=threshold)
    try:
        estimate, secondary = _outcome(test, table, context)
        outcome = verdict(estimate.mean, estimate.low, estimate.high, threshold, test.rule)
        note = estimate.note
    except NotTestable as err:
        estimate, secondary = Estimate(math.nan, math.nan, math.nan, 0), math.nan
        outcome, note = NOT_TESTABLE, str(err)
    except (KeyError, ValueError) as err:  # the experiment lacks the sweep this test needs
        estimate, secondary = Estimate(math.nan, math.nan, math.nan, 0), math.nan
        outcome, note = INCONCLUSIVE, f"cannot compute: {err}"
    return {
        "claim": test.claim, "experiment": test.experiment, "dataset": table["dataset"].iloc[0],
        "test": test.name, "statement": test.statement, "metric": test.metric, "rule": test.rule,
        "effect": estimate.mean, "ci_low": estimate.low, "ci_high": estimate.high, "n_seeds": estimate.n_seeds,
        "min_effect": threshold, "effect_nats": secondary, "verdict": outcome, "note": note,
    }  # fmt: skip


def context_of(settings: dict) -> Context:
    """The `claims` config section as the effect functions' context."""
    return Context(settings["confidence"], settings["epsilons"], settings["room_above_chance"], settings["bootstrap"])


def familywise_confidence(confidence: float, tests: int) -> float:
    """Bonferroni: each of `tests` intervals at this confidence, so that all hold together at
    `confidence`."""
    return 1 - (1 - confidence) / max(tests, 1)


def run_tests(tables: dict[str, pd.DataFrame], settings: dict) -> pd.DataFrame:
    """One row per registered test whose experiment has a table: effect, interval and verdict,
    and the same at the family-wise confidence over every judged test of the run (`fw_*`)."""
    context = context_of(settings)
    tests = [test for test in claim_tests() if test.experiment in tables]
    judged = sum(test.rule != FINDING for test in tests)
    familywise = replace(context, confidence=familywise_confidence(context.confidence, judged))
    rows = []
    for test in tests:
        table, threshold = tables[test.experiment], settings["min_effect"][test.name]
        row = test_row(test, table, threshold, context)
        strict = test_row(test, table, threshold, familywise)
        rows.append({**row, "fw_ci_low": strict["ci_low"], "fw_ci_high": strict["ci_high"],
                     "fw_verdict": strict["verdict"]})  # fmt: skip
    return pd.DataFrame(rows, columns=TEST_COLUMNS)  # the columns even with no test (a tuning experiment)


def audit_tests(audit: pd.DataFrame, min_power: float) -> pd.DataFrame:
    """Rows like `run_tests`' for the privacy audit: sound for DP-SGD, powerful on broken controls.

    The lower bounds already hold with the audit's confidence, so the verdict compares them
    directly: the bound of DP-SGD (and of every fair variant) must not exceed its accountant's
    epsilon, and each control's bound must exceed the epsilon it claims by at least `min_power`.
    """
    rows = []
    for row in audit.itertuples():
        sound = row.mechanism not in BROKEN_MECHANISMS
        bound, claimed = row.epsilon_lower_bound, row.epsilon_accountant
        effect = claimed - bound if sound else bound - claimed
        threshold = 0.0 if sound else min_power
        rows.append({
            "claim": "privacy", "experiment": PRIVACY_AUDIT, "dataset": "synthetic", "test": f"audit_{row.mechanism}",
            "statement": ("the empirical lower bound does not exceed the accountant's epsilon" if sound
                          else f"the audit catches the broken '{row.mechanism}' mechanism"),
            "metric": "accountant epsilon - lower bound" if sound else "lower bound - claimed epsilon",
            "rule": EFFECT_RULE, "effect": effect, "ci_low": math.nan, "ci_high": math.nan, "n_seeds": 1,
            "min_effect": threshold, "effect_nats": math.nan,
            "verdict": REPRODUCED if effect >= threshold else NOT_REPRODUCED,
            "note": f"bound at {row.confidence:.0%} confidence over {row.n_trials} trainings",
            "fw_ci_low": math.nan, "fw_ci_high": math.nan,
            "fw_verdict": REPRODUCED if effect >= threshold else NOT_REPRODUCED,
        })  # fmt: skip
    return pd.DataFrame(rows)


def judge(tables: dict[str, pd.DataFrame], settings: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every test, every claim) from the tables by name; the audit's table adds its own tests."""
    tables = dict(tables)
    audit = tables.pop(PRIVACY_AUDIT, None)
    tests = run_tests(tables, settings)
    if audit is not None:
        tests = pd.concat([tests, audit_tests(audit, settings["min_effect"]["audit_power"])], ignore_index=True)
    return tests, summarise(tests, claim_statements())


def summarise(tests: pd.DataFrame, statements: dict[str, str]) -> pd.DataFrame:
    """One row per claim and dataset; effect and interval of its first (primary) test."""
    rows = []
    for (claim, dataset), group in tests.groupby(["claim", "dataset"], sort=False):
        primary = group.iloc[0]
        rows.append({
            "claim": claim, "experiment": primary["experiment"], "dataset": dataset,
            "statement": statements[claim], "metric": f"{primary['test']}: {primary['metric']}",
            "effect": primary["effect"], "ci_low": primary["ci_low"], "ci_high": primary["ci_high"],
            "n_seeds": primary["n_seeds"], "verdict": combine(list(group["verdict"])),
            "fw_verdict": combine(list(group["fw_verdict"])),
        })  # fmt: skip
    return pd.DataFrame(rows)


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4g}"


def familywise_summary(tests: pd.DataFrame, confidence: float) -> str:
    """How many tests were judged, and which verdicts change when every interval must hold at once."""
    judged = tests[tests["rule"] != FINDING]
    flips = judged[judged["verdict"] != judged["fw_verdict"]]
    family = int((judged["experiment"] != PRIVACY_AUDIT).sum())
    text = (
        f"{len(judged)} tests are judged (findings aside). Family-wise view: every interval at "
        f"{familywise_confidence(confidence, family):.4%} (Bonferroni over the {family} tests of the paper's and the "
        f"beyond-the-paper experiments of this run; the audit's bounds are one-off), so that all hold together at "
        f"{confidence:.0%}: "
    )
    if flips.empty:
        return text + "no verdict changes."
    changes = "; ".join(f"{r.claim} {r.dataset} {r.test}: {r.verdict} -> {r.fw_verdict}" for r in flips.itertuples())
    return text + f"{len(flips)} verdict(s) change: {changes}."


def _method_lines(methods: pd.DataFrame, confidence: float) -> list[str]:
    """The fair comparison's verdict per method and design (before the tests' table)."""
    if methods.empty:
        return []
    lines = [
        "",
        "## Fair DP-SGD: one verdict per method and design",
        "",
        "Reproduced only when the method lifts the worst group (primary) and keeps the overall accuracy "
        f"(guardrail); points against DP-SGD at the strongest privacy, mean and {confidence:.0%} interval.",
        "",
        "| dataset | design | method | verdict | worst-group gain | overall change | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in methods.itertuples():
        lines.append(
            f"| {r.dataset} | {r.design} | {r.method} | **{r.verdict}** | {r.gain:+.2f} [{r.gain_low:.2f}, "
            f"{r.gain_high:.2f}] | {r.overall:+.2f} [{r.overall_low:.2f}, {r.overall_high:.2f}] | {r.n_seeds} |"
        )
    return lines


def render_markdown(claims: pd.DataFrame, tests: pd.DataFrame, confidence: float) -> str:
    """results/claims.md: the claims' verdicts, then every test with its effect and interval."""
    lines = [
        "# Claims: verdicts computed from results/tables/",
        "",
        f"Effects are means over seeds with {confidence:.0%} intervals (Student-t over seeds, or a "
        "bootstrap over seeds for pooled statistics); a positive effect is what the claim predicts. "
        "Rules: `src/dpharm/claims/rules.py`; tests: `src/dpharm/experiments/paper_tests.py`; thresholds: "
        "`claims.min_effect` in the config.",
        "",
        familywise_summary(tests, confidence),
        "",
        "| claim | dataset | statement | verdict | family-wise |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.claim} | {r.dataset} | {r.statement} | **{r.verdict}** | {r.fw_verdict} |"
              for r in claims.itertuples()]  # fmt: skip
    lines += _method_lines(method_verdicts(tests), confidence)
    lines += [
        "",
        "## Tests",
        "",
        f"| claim | dataset | test | what is compared | effect | {confidence:.0%} CI | rule | threshold | nats "
        "| seeds | verdict | family-wise |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in tests.itertuples():
        interval_text = "-" if math.isnan(r.ci_low) else f"[{r.ci_low:.4g}, {r.ci_high:.4g}]"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.claim} | {r.dataset} | {r.test} | {r.statement}; {r.metric} | {_number(r.effect)} | {interval_text} "
            f"| {r.rule} | {r.min_effect:g} | {_number(r.effect_nats)} | {r.n_seeds} | {r.verdict}{note} "
            f"| {r.fw_verdict} |"
        )
    return "\n".join(lines) + "\n"
