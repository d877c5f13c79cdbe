"""photondbg: build, run, crash and capture Particle Photon firmware faults."""

__version__ = "0.1.0"
