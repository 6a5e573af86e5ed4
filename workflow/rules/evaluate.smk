# Stage 4: per-group test loss and accuracy, measured and predicted FNR, PGD-l2 attacks.


rule evaluate:
    input:
        data=lambda w: PLAN.data_files(w.experiment, condition_of(w).data_id),
        models=lambda w: PLAN.run_files(w.experiment, w.condition, "model.pt"),
        metrics=lambda w: PLAN.run_files(w.experiment, w.condition, "metrics.json"),
    output:
        "results/runs/{experiment}/{condition}/evaluation.csv",
    log:
        "results/logs/evaluate/{experiment}/{condition}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    params:
        run=lambda w: condition_of(w).params,
        labels=lambda w: condition_of(w).labels,
        seeds=SEEDS,
    script:
        "../scripts/evaluate.py"
