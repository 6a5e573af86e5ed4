# Stage 3: training on the private set, every seed of one grid point per job (one stack on the
# fast path): DP-SGD (finite epsilon) or the non-private baseline (epsilon .inf), from scratch
# or from the pre-trained model.


rule train:
    input:
        data=lambda w: PLAN.data_files(w.experiment, condition_of(w).data_id),
        pretrained=pretrained_inputs,
    output:
        models=expand(
            "results/runs/{{experiment}}/{{condition}}/seed{seed}/model.pt", seed=SEEDS
        ),
        metrics=expand(
            "results/runs/{{experiment}}/{{condition}}/seed{seed}/metrics.json",
            seed=SEEDS,
        ),
    log:
        "results/logs/train/{experiment}/{condition}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        run=lambda w: condition_of(w).params,
        labels=lambda w: condition_of(w).labels,
        seeds=SEEDS,
        device=config["device"],
        progress=config["progress"],
    script:
        "../scripts/train.py"
