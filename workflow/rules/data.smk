# Stage 1: datasets. Images are parsed once per source (the scikit-learn digits offline, or a
# download verified against pinned sha256 sums); every experiment condition then gets train /
# test / public sets per seed, with its class imbalance, head/tail subpopulations and public
# shift: drawn from the synthetic model or split from the images.


rule raw_images:
    output:
        paths.RAW_IMAGES,
    log:
        paths.RAW_IMAGES_LOG,
    wildcard_constraints:
        source="digits|mnist|fashion_mnist|cifar10",
    conda:
        CONDA_ENV
    resources:
        mem_mb=budget.RAW_IMAGES_JOB.mem_mb,
        runtime=budget.RAW_IMAGES_JOB.runtime,
    params:
        download_folder=lambda w: paths.fill(paths.DOWNLOADS, source=w.source),
        mirror=config["downloads"]["mirror"],
        sha256=config["downloads"]["sha256"],
        local_folder=lambda w: config["downloads"]["local_folders"].get(w.source),
    script:
        "../scripts/raw_images.py"


rule dataset:
    input:
        get_raw_images,
    output:
        expand(paths.DATASET, seed=SEEDS, allow_missing=True),
    log:
        paths.DATASET_LOG,
    conda:
        CONDA_ENV
    resources:
        mem_mb=job_mem_mb("dataset"),
        runtime=job_runtime("dataset"),
    params:
        data=lambda w: get_dataset_condition(w).params["data"],
        seeds=SEEDS,
    script:
        "../scripts/make_dataset.py"
