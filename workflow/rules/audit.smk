# Privacy audit: many tiny trainings with and without a canary give an empirical lower bound
# on epsilon, for DP-SGD and for deliberately broken controls. The models are tiny, so the
# audit runs on the CPU and asks for no GPU.


if PLAN.audit:

    rule privacy_audit:
        output:
            paths.fill(paths.TABLE, name="privacy_audit"),
        log:
            paths.PRIVACY_AUDIT_LOG,
        conda:
            CONDA_ENV
        resources:
            mem_mb=job_mem_mb("privacy_audit"),
            runtime=job_runtime("privacy_audit"),
        params:
            audit=config["privacy_audit"],
        script:
            "../scripts/privacy_audit.py"
