"""satbench reproduction workflow: train every (dataset, model, method, workers, seed), then tabulate.

    snakemake --cores all                              # default: config/config.yaml (offline, generated graphs)
    snakemake --cores all --configfile config/X.yaml   # another grid
"""

configfile: "config/config.yaml"

RUNS = "results/runs/{dataset}/{model}/{method}/w{workers}/seed{seed}.json"


def all_runs():
    return expand(RUNS, dataset=list(config["datasets"]), model=list(config["models"]), method=config["methods"],
                  workers=config["workers"], seed=config["seeds"])


rule all:
    input:
        "results/tables/runs.csv",


rule train:
    output:
        RUNS,
    log:
        "results/logs/{dataset}/{model}/{method}/w{workers}/seed{seed}.log",
    threads: lambda wildcards: int(wildcards.workers)
    params:
        spec=lambda wc: config["datasets"][wc.dataset]["spec"],
        model=lambda wc: config["models"][wc.model],
    shell:
        "satbench run --dataset '{params.spec}' --model {wildcards.model} --method {wildcards.method}"
        " --workers {wildcards.workers} --seed {wildcards.seed} --epochs {config[epochs]}"
        " --hidden {params.model[hidden]} --layers {params.model[layers]} --dropout {params.model[dropout]}"
        " --lr {params.model[lr]} --weight-decay {params.model[weight_decay]} --device {config[device]}"
        " --no-progress --out {output} 2> {log}"


rule tabulate_runs:
    input:
        all_runs(),
    output:
        "results/tables/runs.csv",
    shell:
        "satbench collect {input} --out {output}"
