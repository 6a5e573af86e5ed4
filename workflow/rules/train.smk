# Stage 3: training on the private set. One job per stack (the conditions of a grid point that
# differ only in epsilon): every seed at every noise level, the non-private baseline (epsilon
# .inf) included; on the fast path the private models train as one batched stack, the
# non-private ones as another.


rule train:
    input:
        data=lambda w: PLAN.data_files(w.experiment, first_condition_of(w).data_id),
        pretrained=pretrained_inputs,
    output:
        models=expand(
            "results/runs/{{experiment}}/{{stack}}/seed{seed}/model.pt", seed=SEEDS
        ),
        metrics=expand(
            "results/runs/{{experiment}}/{{stack}}/seed{seed}/metrics.json", seed=SEEDS
        ),
    log:
        "results/logs/train/{experiment}/{stack}.log",
    conda:
        CONDA_ENV
    threads: config["threads"]
    resources:
        gpu=1,
    params:
        runs=stack_runs,
        seeds=SEEDS,
        device=config["device"],
        progress=config["progress"],
    script:
        "../scripts/train.py"
