"""`python -m dpharm.review`: the reviewers' command; the tool is `dpharm.tools.review`."""

from dpharm.tools.review import main

if __name__ == "__main__":
    raise SystemExit(main())
