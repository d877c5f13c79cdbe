"""The real Photon: particle-cli, dfu-util and OpenOCD wrappers, local Device OS builds, flashing.

Each wrapper keeps command-line assembly in pure ``*_argv`` functions (unit-tested exactly) and
output parsing in pure ``parse_*`` functions (tested on recordings of the real programs); only
:func:`photondbg.photon.run.run` actually starts a program.
"""
