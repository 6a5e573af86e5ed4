"""`python -m dpharm.bench`: the developers' speed benchmark; the tool is `dpharm.tools.benchmark`."""

from dpharm.tools.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main())
