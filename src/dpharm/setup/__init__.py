"""Configuration, plan and environment: what runs, where its files go, and what each job needs."""
