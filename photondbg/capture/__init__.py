"""Fault capture: arm the fault vectors, catch the first fault, write the report."""

from photondbg.capture.engine import CaptureRequest, CaptureResult, run

__all__ = ["CaptureRequest", "CaptureResult", "run"]
