"""Post-mortem analysis of a capture: heap walks, a typed pointer walk through DWARF, the
provenance of the faulting value, and the ``root_cause`` report section built from them."""
