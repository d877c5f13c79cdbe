"""Errors that the CLI turns into one line on stderr and a meaningful exit code.

Exit codes (DESIGN §8): 0 captured, 3 nothing happened, 2 bad usage or input, 1 tool failure.
"""

EXIT_OK = 0
EXIT_TOOL_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOTHING = 3
EXIT_INTERRUPTED = 130


class PhotondbgError(Exception):
    """Base: a failure that is reported as one line, never as a traceback."""

    exit_code = EXIT_TOOL_FAILURE


class UsageError(PhotondbgError):
    """Bad usage or bad input (missing file, not an ELF, port in use...)."""

    exit_code = EXIT_USAGE


class ToolMissing(UsageError):
    """An external program photondbg needs is not installed."""

    def __init__(self, tool: str, hint: str = ""):
        self.tool = tool
        msg = f"{tool} not found on PATH"
        if hint:
            msg += f" (install: {hint})"
        super().__init__(f"{msg}; `photondbg doctor` checks every tool")


class ToolFailure(PhotondbgError):
    """An external program or the target failed while we drove it."""

    exit_code = EXIT_TOOL_FAILURE


class TargetTimeout(ToolFailure):
    """The target or a tool did not answer within its time-out."""
