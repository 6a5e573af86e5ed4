# Stage 2: non-private pre-training on the public set (features shifted by theta).


rule pretrain:
    input:
        lambda w: PLAN.data_files(w.experiment, pretrain_condition_of(w).data_id),
    output:
        expand(
            "results/pretrained/{{experiment}}/{{pretrain_id}}/seed{seed}.pt",
            seed=SEEDS,
        ),
    log:
        "results/logs/pretrain/{experiment}/{pretrain_id}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        run=lambda w: pretrain_condition_of(w).params,
        seeds=SEEDS,
        device=config["device"],
        progress=config["progress"],
    script:
        "../scripts/pretrain.py"
