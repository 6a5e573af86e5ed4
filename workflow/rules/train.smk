# Stage 3: training on the private set. One job per train_id (the conditions of a grid point
# that differ only in epsilon): every seed at every noise level, the non-private baseline
# (epsilon .inf) included; on the fast path the private models train as one batched stack,
# the non-private ones as another.


rule train:
    input:
        data=get_train_datasets,
        raw_images=get_train_raw_images,
        pretrained=get_pretrained_starts,
    output:
        models=expand(paths.MODEL, seed=SEEDS, allow_missing=True),
        metrics=expand(paths.METRICS, seed=SEEDS, allow_missing=True),
    log:
        paths.TRAIN_LOG,
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        mem_mb=job_mem_mb("train"),
        runtime=job_runtime("train"),
        gpu=TRAINING_GPUS,
    params:
        conditions=get_conditions,
        seeds=SEEDS,
    script:
        "../scripts/train.py"
