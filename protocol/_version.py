"""The version of Hearth's distribution (hearth-peer-support), in one place.

pyproject.toml reads it from here (setuptools' ``attr:``, parsed without importing),
and every package re-exports it as ``__version__``; ``hearth --version`` prints it.
It lives in ``protocol`` because every other package builds on this one.
"""

__version__ = "0.1.0"
