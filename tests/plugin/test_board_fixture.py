"""End-to-end tests written the way a user writes them: with the plugin's ``photon`` fixture
(the simulated board, built and booted per test, stopped after it)."""

from __future__ import annotations

import pytest


@pytest.mark.photon(app="simple-server", variant="all")
def test_simple_server_answers_and_logs_each_client(photon):
    mark = len(photon.lines)
    status, body = photon.get("/")
    assert status == 200 and "<html" in body.lower()
    # the app logs every request line it read, on the console (DESIGN §1: simple server)
    assert photon.wait_for(r"GET / HTTP/1\.[01]", timeout=10, start=mark) is not None


@pytest.mark.photon(variant="all")
def test_reset_boots_again_on_the_same_address(photon):
    url = photon.url
    boots = sum(line.startswith("@boot") for line in photon.lines)
    photon.reset()
    assert photon.url == url and photon.get("/")[0] == 200
    assert photon.wait_for(r"^@boot ", timeout=10) is not None
    assert sum(line.startswith("@boot") for line in photon.lines) == boots + 1


@pytest.mark.photon(variant="all")
def test_the_fixed_build_serves_again_after_the_ap_goes_down(photon):
    mark = len(photon.lines)
    photon.netcut("down")
    assert photon.wait_for(r"^@net wifi=0", timeout=10, start=mark) is not None
    photon.restore()
    photon.wait_serving(20)
    assert photon.get("/")[0] == 200
