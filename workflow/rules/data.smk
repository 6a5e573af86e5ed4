# Stage 1: synthetic data (train / test / public sets per seed) with the configured class
# imbalance and head/tail subpopulations.


rule synthetic_data:
    output:
        expand("results/data/{{experiment}}/{{data_id}}/seed{seed}.npz", seed=SEEDS),
    params:
        data=lambda w: data_condition_of(w).params["data"],
        seeds=SEEDS,
    log:
        "results/logs/data/{experiment}/{data_id}.log",
    script:
        "../scripts/make_synthetic_data.py"
