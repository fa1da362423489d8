"""Shared pytest fixtures."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def ldnsim_cache_dir(tmp_path_factory):
    """Generated model code and numba caches go to a fresh directory for the test session,
    never to the user's real cache (and a stale file from an older generator is never used).
    """
    path = tmp_path_factory.mktemp("ldnsim_cache")
    old = os.environ.get("LDNSIM_CACHE_DIR")
    os.environ["LDNSIM_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("LDNSIM_CACHE_DIR", None)
    else:
        os.environ["LDNSIM_CACHE_DIR"] = old
