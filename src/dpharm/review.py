"""`python -m dpharm.review`: the reviewers' command; the tool is `dpharm.tools.compare_results`."""

from dpharm.tools.compare_results import main

if __name__ == "__main__":
    raise SystemExit(main())
