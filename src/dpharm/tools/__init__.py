"""Developer and reviewer tools, apart from the pipeline's modules: the speed benchmark
(`python -m dpharm.bench`) and the artifact review (`python -m dpharm.review`)."""
