# Stage 2: non-private pre-training on the public set (features shifted by theta).


rule pretrain:
    input:
        data=get_pretrain_datasets,
        raw_images=get_pretrain_raw_images,
    output:
        expand(paths.PRETRAINED, seed=SEEDS, allow_missing=True),
    log:
        paths.PRETRAIN_LOG,
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        mem_mb=job_mem_mb("pretrain"),
        runtime=job_runtime("pretrain"),
        gpu=TRAINING_GPUS,
    params:
        condition=lambda w: get_pretrain_condition(w).params,
        seeds=SEEDS,
    script:
        "../scripts/pretrain.py"
