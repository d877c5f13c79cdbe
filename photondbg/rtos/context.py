"""A switched-out task's registers, as the FreeRTOS port's PendSV handler left them on its
stack (layouts: :data:`photondbg.cortexm.faults.SWITCH_CONTEXTS`).

ARM_CM3 (and the sim's scheduler): r4-r11, then the hardware's basic frame. ARM_CM4F: r4-r11
and r14 (the task's EXC_RETURN); when EXC_RETURN.FTYPE is 0 (the task used the FPU) S16-S31
follow, and the hardware frame is the extended one (S0-S15, FPSCR, a reserved word). The SP
the task had before the switch is above the frame, plus 4 when the stacked xPSR's bit 9 says
the hardware aligned the frame. Which port: CM4F when the ELF is built for an FPU
(``Tag_FP_arch`` in ``.ARM.attributes``: FreeRTOS is then built with the ARM_CM4F port), else
CM3."""

from __future__ import annotations

from photondbg.capture.unwind import WordSource, read_words
from photondbg.cortexm import faults
from photondbg.cortexm.attributes import build_attributes


def port_of(elffile) -> str:
    """ARM_CM4F for a firmware built with floating-point hardware, else ARM_CM3."""
    try:
        if any(tag == "TAG_FP_ARCH" and value for tag, value in build_attributes(elffile)):
            return "ARM_CM4F"
    except Exception:
        return "ARM_CM3"
    return "ARM_CM3"


def saved_context(mem: WordSource, saved_sp: int, port: str = "ARM_CM3") -> dict[str, int] | None:
    """The registers saved at ``saved_sp`` (pxTopOfStack), with ``sp`` = the task's SP before
    the switch; None when a word is unreadable or the layout is inconsistent."""
    core_names, fp_names = faults.SWITCH_CONTEXTS[port]
    core = read_words(mem, saved_sp, len(core_names))
    if core is None:
        return None
    regs = dict(zip(core_names, core))
    at = saved_sp + 4 * len(core_names)
    frame_names, frame_bytes = faults.BASIC_FRAME, faults.BASIC_FRAME_BYTES
    if "exc_return" in regs:
        exc = faults.decode_exc_return(regs["exc_return"])
        if not exc.get("valid"):
            return None  # not a context this port saved
        if exc["frame"] == "extended":
            fp = read_words(mem, at, len(fp_names))
            if fp is None:
                return None
            regs.update(zip(fp_names, fp))
            at += 4 * len(fp_names)
            frame_names = faults.BASIC_FRAME + faults.EXTENDED_FP_FRAME
            frame_bytes = faults.EXTENDED_FRAME_BYTES
    frame = read_words(mem, at, len(frame_names))
    if frame is None:
        return None
    regs.update(zip(frame_names, frame))
    regs.pop("reserved", None)
    regs["sp"] = faults.frame_caller_sp(at, {"frame_bytes": frame_bytes}, regs["xpsr"])
    return regs
