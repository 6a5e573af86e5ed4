# Stage 4: per-group test loss and accuracy, measured and predicted FNR, PGD-l2 attacks; one
# job per stack, every seed and noise level.


rule evaluate:
    input:
        data=lambda w: PLAN.data_files(w.experiment, first_condition_of(w).data_id),
        models=lambda w: PLAN.run_files(w.experiment, w.stack, "model.pt"),
        metrics=lambda w: PLAN.run_files(w.experiment, w.stack, "metrics.json"),
    output:
        "results/runs/{experiment}/{stack}/evaluation.csv",
    log:
        "results/logs/evaluate/{experiment}/{stack}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    params:
        runs=stack_runs,
        seeds=SEEDS,
    script:
        "../scripts/evaluate.py"
