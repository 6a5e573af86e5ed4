# Stage 5: tidy tables per experiment, the pooled FNR table, claim verdicts, and figures drawn
# only from the tables.


rule aggregate:
    input:
        lambda w: PLAN.evaluation_files(w.name),
    output:
        paths.TABLE,
    log:
        paths.AGGREGATE_LOG,
    wildcard_constraints:
        name="|".join(PLAN.experiments),
    conda:
        CONDA_ENV
    params:
        runs=lambda w: PLAN.evaluation_runs(w.name),
        seeds=PLAN.seeds,
        label_columns=lambda w: PLAN.label_columns(w.name),
    script:
        "../scripts/aggregate.py"


# Defined only when this run rebuilds it: otherwise its committed table is an input like any file.
if PLAN.synthetic_experiments():

    rule fnr_transition:
        input:
            [
                paths.fill(paths.TABLE, name=name)
                for name in PLAN.synthetic_experiments()
            ],
        output:
            table=paths.fill(paths.TABLE, name="fnr_transition"),
            agreement=paths.FNR_AGREEMENT,
        log:
            paths.fill(paths.AGGREGATE_LOG, name="fnr_transition"),
        conda:
            CONDA_ENV
        script:
            "../scripts/fnr_transition.py"


rule claims:
    input:
        PLAN.table_files(),
        get_committed_tables(),
    output:
        claims=paths.CLAIMS,
        markdown=paths.CLAIMS_MARKDOWN,
        html=report(
            paths.CLAIMS_HTML, caption="../report/claims.rst", category="Claims"
        ),
        tests=paths.CLAIM_TESTS,
    log:
        paths.CLAIMS_LOG,
    conda:
        CONDA_ENV
    params:
        settings=config["claims"],
    script:
        "../scripts/claims.py"


rule figure:
    input:
        paths.TABLE,
    output:
        pdf=paths.FIGURE_PDF,
        png=report(
            paths.FIGURE_PNG,
            caption="../report/figure.rst",
            category="{name}",
        ),
    log:
        paths.FIGURE_LOG,
    wildcard_constraints:
        name="|".join(PLAN.figure_names()),
    conda:
        CONDA_ENV
    params:
        caption=lambda w: caption(w.name),
        confidence=config["claims"]["confidence"],
    script:
        "../scripts/plot.py"


rule provenance:
    output:
        report(
            paths.PROVENANCE,
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        paths.PROVENANCE_LOG,
    conda:
        CONDA_ENV
    params:
        config_hash=config_hash(config),
        git=git_state(),
    script:
        "../scripts/provenance.py"
