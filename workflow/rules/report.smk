# Stage 6: claim verdicts and figures, drawn only from the tables (those this run makes, and the
# committed ones it does not), the conclusion at a glance (verdict matrix, forest plot, claims
# page) drawn from claim_tests.csv, and the run's provenance.


rule claims:
    input:
        get_claims_tables(),
    output:
        claims=paths.CLAIMS,
        markdown=paths.CLAIMS_MARKDOWN,
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


# "At a glance" sorts first among the report's categories (alphabetically), so the report opens
# with the verdict matrix and the forest plot.
rule verdicts:
    input:
        tests=paths.CLAIM_TESTS,
        confirmations=confirmation_tests("."),
    output:
        matrix_pdf=paths.VERDICT_MATRIX_PDF,
        matrix_png=report(
            paths.VERDICT_MATRIX_PNG,
            caption="../report/verdict_matrix.rst",
            category="At a glance",
        ),
        forest_pdf=paths.FOREST_PDF,
        forest_png=report(
            paths.FOREST_PNG, caption="../report/forest.rst", category="At a glance"
        ),
        html=report(
            paths.CLAIMS_HTML, caption="../report/claims.rst", category="Claims"
        ),
    log:
        paths.VERDICTS_LOG,
    conda:
        CONDA_ENV
    resources:
        mem_mb=budget.LIGHT_JOB.mem_mb,
        runtime=budget.LIGHT_JOB.runtime,
    params:
        confidence=config["claims"]["confidence"],
    script:
        "../scripts/verdicts.py"


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


# With `from_tables` no rule rewrites a provenance record: each configuration's stays that of the
# run that made its tables, and the report shows a copy of each.
if not config["from_tables"]:

    rule provenance:
        input:
            # written once the tables exist: a failed run leaves no record claiming them
            PLAN.table_files(),
        output:
            report(
                PROVENANCE,
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
            config_files=[
                os.path.relpath(path, workflow.basedir)
                for path in workflow.configfiles
            ],
            tables_made=PLAN.table_files()
            + [paths.CLAIM_TESTS]
            + ([paths.FNR_AGREEMENT] if PLAN.pooled_fnr_experiments() else []),
            tables_carried_over=get_committed_tables(),
        script:
            "../scripts/provenance.py"

elif COMMITTED_PROVENANCE:

    rule tables_provenance:
        input:
            [record for record, _ in COMMITTED_PROVENANCE],
        output:
            [
                report(
                    copy,
                    caption="../report/tables_provenance.rst",
                    category="Provenance",
                )
                for _, copy in COMMITTED_PROVENANCE
            ],
        localrule: True
        run:
            for record, copy in zip(input, output):
                shutil.copyfile(record, copy)
