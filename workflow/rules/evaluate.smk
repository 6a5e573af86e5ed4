# Stage 4: per-group test loss and accuracy, measured and predicted FNR, PGD attacks; one
# job per train_id, every seed and noise level.


rule evaluate:
    input:
        data=get_train_datasets,
        raw_images=get_train_raw_images,
        models=lambda w: PLAN.run_files(w.experiment, w.train_id, paths.MODEL),
        metrics=lambda w: PLAN.run_files(w.experiment, w.train_id, paths.METRICS),
    output:
        paths.EVALUATION,
    log:
        paths.EVALUATE_LOG,
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        mem_mb=job_mem_mb("evaluate"),
        runtime=job_runtime("evaluate"),
    params:
        conditions=get_conditions,
        seeds=SEEDS,
    script:
        "../scripts/evaluate.py"
