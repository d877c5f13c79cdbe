"""The real board's WiFi cut: user commands run for real (a relay stand-in writing a state
file), failures and bad options as one line, and the interactive prompt."""

import sys

import pytest

from photondbg.errors import TargetTimeout, ToolFailure, UsageError
from photondbg.photon.netcut import CommandNetCut, PromptNetCut, netcut_from_options


def relay_cmd(state, value):
    return f"{sys.executable} -c \"open('{state}', 'w').write('{value}')\""


def test_command_pair_switches_the_relay(tmp_path):
    state = tmp_path / "relay"
    cut = netcut_from_options(relay_cmd(state, "off"), relay_cmd(state, "on"))
    assert isinstance(cut, CommandNetCut)
    cut.cut()
    assert state.read_text() == "off"
    cut.restore()
    assert state.read_text() == "on"
    assert [(e.action, e.exit_code) for e in cut.events] == [("cut", 0), ("restore", 0)]


def test_failing_and_hanging_commands(tmp_path):
    cut = CommandNetCut(
        f"{sys.executable} -c \"import sys; print('relay busy'); sys.exit(3)\"", "true"
    )
    with pytest.raises(ToolFailure, match=r"^cut command failed \(exit 3\): relay busy$"):
        cut.cut()
    slow = CommandNetCut("sleep 30", "true", timeout=0.5)
    with pytest.raises(TargetTimeout):
        slow.cut()


@pytest.mark.parametrize(
    "cut,restore,message",
    [
        ("ssh pi off", None, "go together"),
        ("", "x", "--netcut-cmd is empty"),
        ("ssh 'pi", "x", "cannot parse"),
    ],
)
def test_bad_options(cut, restore, message):
    with pytest.raises(UsageError, match=message):
        netcut_from_options(cut, restore)


def test_prompt(tmp_path):
    asked = []
    cut = netcut_from_options(None, None, ask=lambda text: asked.append(text) or "")
    assert isinstance(cut, PromptNetCut)
    cut.cut()
    cut.restore()
    assert "Unplug" in asked[0] and "back in" in asked[1]

    def no_tty(text):
        raise EOFError

    with pytest.raises(UsageError, match="no terminal"):
        PromptNetCut(no_tty).cut()
