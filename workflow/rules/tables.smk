# Stage 5: the tidy table of each experiment, and the pooled FNR table of the synthetic ones.


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
    resources:
        mem_mb=budget.LIGHT_JOB.mem_mb,
        runtime=budget.LIGHT_JOB.runtime,
    params:
        runs=lambda w: PLAN.evaluation_runs(w.name),
        seeds=PLAN.seeds,
        label_columns=lambda w: PLAN.label_columns(w.name),
        source_labels=lambda w: PLAN.source_labels(w.name),
    script:
        "../scripts/aggregate.py"


# Defined only when this run rebuilds it: otherwise its committed table is an input like any file.
if PLAN.pooled_fnr_experiments():

    rule fnr_transition:
        input:
            [
                paths.fill(paths.TABLE, name=name)
                for name in PLAN.pooled_fnr_experiments()
            ],
        output:
            table=paths.fill(paths.TABLE, name="fnr_transition"),
            agreement=paths.FNR_AGREEMENT,
        log:
            paths.fill(paths.AGGREGATE_LOG, name="fnr_transition"),
        conda:
            CONDA_ENV
        resources:
            mem_mb=budget.LIGHT_JOB.mem_mb,
            runtime=budget.LIGHT_JOB.runtime,
        script:
            "../scripts/fnr_transition.py"
