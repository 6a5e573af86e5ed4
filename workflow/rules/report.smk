# Stage 5: tidy tables per experiment, the pooled FNR table, claim verdicts, and figures drawn
# only from the tables.


rule aggregate:
    input:
        lambda w: PLAN.evaluation_files(w.experiment),
    output:
        "results/tables/{experiment}.csv",
    log:
        "results/logs/aggregate/{experiment}.log",
    wildcard_constraints:
        experiment="|".join(PLAN.experiments),
    conda:
        CONDA_ENV
    params:
        label_columns=lambda w: PLAN.label_columns(w.experiment),
    script:
        "../scripts/aggregate.py"


rule fnr_transition:
    input:
        [f"results/tables/{name}.csv" for name in PLAN.synthetic_experiments()],
    output:
        "results/tables/fnr_transition.csv",
    log:
        "results/logs/aggregate/fnr_transition.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/fnr_transition.py"


rule claims:
    input:
        PLAN.table_files(),
    output:
        claims=report(
            "results/claims.csv", caption="../report/claims.rst", category="Claims"
        ),
        markdown="results/claims.md",
        tests="results/tables/claim_tests.csv",
    log:
        "results/logs/claims.log",
    conda:
        CONDA_ENV
    params:
        settings=config["claims"],
    script:
        "../scripts/claims.py"


rule figure:
    input:
        "results/tables/{name}.csv",
    output:
        pdf="results/figures/{name}.pdf",
        png=report(
            "results/figures/{name}.png",
            caption="../report/figure.rst",
            category="{name}",
        ),
    log:
        "results/logs/figure/{name}.log",
    wildcard_constraints:
        name="|".join(PLAN.figure_names()),
    conda:
        CONDA_ENV
    params:
        caption=lambda w: FIGURE_CAPTIONS[w.name],
    script:
        "../scripts/plot.py"


rule provenance:
    output:
        report(
            "results/provenance.json",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        "results/logs/provenance.log",
    conda:
        CONDA_ENV
    params:
        config_hash=config_hash(config),
        git=git_state(),
    script:
        "../scripts/provenance.py"
