# Stage 6: claim verdicts and figures, drawn only from the tables (those this run makes, and the
# committed ones it does not), and the run's provenance.


rule claims:
    input:
        get_claims_tables(),
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
    resources:
        mem_mb=budget.LIGHT_JOB.mem_mb,
        runtime=budget.LIGHT_JOB.runtime,
    params:
        settings=config["claims"],
        committed=get_committed_tables(),
        plans=get_table_plans(),
    script:
        "../scripts/claims.py"


rule figure:
    input:
        table=paths.TABLE,
    output:
        pdf=paths.FIGURE_PDF,
        png=report(
            paths.FIGURE_PNG,
            caption="../report/figure.rst",
            category=lambda w: f"{REGISTRY[w.name].claim} {w.name}",  # no colon: RST reads it as a link
        ),
    log:
        paths.FIGURE_LOG,
    wildcard_constraints:
        name="|".join(FIGURE_NAMES),
    conda:
        CONDA_ENV
    resources:
        mem_mb=budget.LIGHT_JOB.mem_mb,
        runtime=budget.LIGHT_JOB.runtime,
    params:
        caption=lambda w: caption(w.name),
        settings=config["claims"],
        committed=lambda w: paths.fill(paths.TABLE, name=w.name)
        in get_committed_tables(),
        conditions=lambda w: get_table_plans().get(paths.fill(paths.TABLE, name=w.name)),
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
    resources:
        mem_mb=budget.LIGHT_JOB.mem_mb,
        runtime=budget.LIGHT_JOB.runtime,
    params:
        config_hash=config_hash(config),
        git=git_state(),
    script:
        "../scripts/provenance.py"
