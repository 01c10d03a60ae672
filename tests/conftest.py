"""Settings for the whole test suite.

No network, ever: the scan reads files and nothing else (docs/security.md).
For the whole session, ``socket.socket.connect``/``connect_ex``,
``socket.create_connection`` and ``socket.getaddrinfo`` raise
:class:`NetworkBlocked` (Unix domain sockets stay allowed: they are local),
and every attempt is recorded; the session fails at the end if anything
tried, even when the code under test swallowed the exception.
``test_network_is_blocked`` (tests/test_hostile.py) proves the block is in force.

Subprocesses are separate interpreters: a test that runs the CLI in one passes
``offline_env()`` as its environment, which loads the same block through a
``sitecustomize`` module on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import socket
import sys
import textwrap
from pathlib import Path

import pytest

ATTEMPTS: list[str] = []


class NetworkBlocked(OSError):
    """Raised instead of opening a network connection during the tests."""


def _describe(address) -> str:
    return repr(address)[:200]


def _blocked(what: str, address) -> NetworkBlocked:
    ATTEMPTS.append(f"{what} {_describe(address)}")
    return NetworkBlocked(f"network access is blocked in the test suite ({what} {_describe(address)})")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _connect(self, address, *args, **kwargs):
    if getattr(socket, "AF_UNIX", None) is not None and self.family == socket.AF_UNIX:
        return _real_connect(self, address, *args, **kwargs)
    raise _blocked("connect", address)


def _connect_ex(self, address, *args, **kwargs):
    if getattr(socket, "AF_UNIX", None) is not None and self.family == socket.AF_UNIX:
        return _real_connect_ex(self, address, *args, **kwargs)
    raise _blocked("connect_ex", address)


def _create_connection(address, *args, **kwargs):
    raise _blocked("create_connection", address)


def _getaddrinfo(host, port, *args, **kwargs):
    raise _blocked("getaddrinfo", (host, port))


def block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _connect_ex)
    monkeypatch.setattr(socket, "create_connection", _create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", _getaddrinfo)


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    mp = pytest.MonkeyPatch()
    block_network(mp)
    try:
        yield
    finally:
        mp.undo()
    if ATTEMPTS:
        pytest.fail("the code under test tried to use the network:\n  " + "\n  ".join(ATTEMPTS), pytrace=False)


# ------------------------------------------------------------------ subprocesses

_SITECUSTOMIZE = textwrap.dedent('''\
    # Written by tests/conftest.py: no network in a subprocess of the test suite.
    import socket as _s

    def _refuse(*args, **kwargs):
        raise OSError("network access is blocked in the test suite")

    _real_connect, _real_connect_ex = _s.socket.connect, _s.socket.connect_ex

    def _connect(self, address, *args, **kwargs):
        if getattr(_s, "AF_UNIX", None) is not None and self.family == _s.AF_UNIX:
            return _real_connect(self, address, *args, **kwargs)
        _refuse()

    def _connect_ex(self, address, *args, **kwargs):
        if getattr(_s, "AF_UNIX", None) is not None and self.family == _s.AF_UNIX:
            return _real_connect_ex(self, address, *args, **kwargs)
        _refuse()

    _s.socket.connect, _s.socket.connect_ex = _connect, _connect_ex
    _s.create_connection = _s.getaddrinfo = _refuse
''')


@pytest.fixture(scope="session")
def offline_env(tmp_path_factory) -> dict:
    """An environment for ``subprocess.run(..., env=offline_env)`` in which Python cannot open network connections."""
    site = tmp_path_factory.mktemp("offline-site")
    (Path(site) / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONNOUSERSITE"] = "1"
    env.pop("PYTHONSTARTUP", None)
    return env


# ------------------------------------------------------------------ for the proof (tests/test_hostile.py)


@pytest.fixture
def network_guard():
    """(NetworkBlocked, the list of recorded attempts) for a test that checks the block itself."""
    return NetworkBlocked, ATTEMPTS


@pytest.fixture(autouse=True)
def _restore_default_tree_cache():
    """A Terraform Project given a TreeCache makes it the process default (terraform/treecache.py):
    no test leaves one behind for the next."""
    from cloudtrail_kms_lint.terraform import treecache

    saved = treecache._DEFAULT
    yield
    treecache.set_default(saved)
