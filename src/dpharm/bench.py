"""`python -m dpharm.bench`: the developers' speed benchmark; the tool is `dpharm.tools.bench`."""

from dpharm.tools.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
