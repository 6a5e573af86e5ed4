# Stage 5: tidy tables per experiment, and figures drawn only from those tables.


rule aggregate:
    input:
        lambda w: PLAN.evaluation_files(w.experiment),
    output:
        "results/tables/{experiment}.csv",
    params:
        grid_keys=lambda w: PLAN.grid_keys(w.experiment),
    log:
        "results/logs/aggregate/{experiment}.log",
    script:
        "../scripts/aggregate.py"


rule figure:
    input:
        "results/tables/{experiment}.csv",
    output:
        pdf="results/figures/{experiment}.pdf",
        png="results/figures/{experiment}.png",
    log:
        "results/logs/figure/{experiment}.log",
    script:
        "../scripts/plot.py"
