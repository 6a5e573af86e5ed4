# Stage 1: datasets. Images are parsed once per source (the scikit-learn digits offline, or a
# download verified against pinned sha256 sums); every experiment condition then gets train /
# test / public sets per seed, with its class imbalance, head/tail subpopulations and public
# shift: drawn from the synthetic model or split from the images.


rule raw_images:
    output:
        "results/raw/{source}.npz",
    log:
        "results/logs/raw/{source}.log",
    wildcard_constraints:
        source="digits|mnist|fashion_mnist|cifar10",
    conda:
        CONDA_ENV
    params:
        download_folder=lambda w: f"results/raw/{w.source}",
        mirror=config["downloads"]["mirror"],
        sha256=config["downloads"]["sha256"],
    script:
        "../scripts/raw_images.py"


rule dataset:
    input:
        raw_images_input,
    output:
        expand("results/data/{{experiment}}/{{data_id}}/seed{seed}.npz", seed=SEEDS),
    log:
        "results/logs/data/{experiment}/{data_id}.log",
    conda:
        CONDA_ENV
    params:
        data=lambda w: data_condition_of(w).params["data"],
        seeds=SEEDS,
    script:
        "../scripts/make_dataset.py"
