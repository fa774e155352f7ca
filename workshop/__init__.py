"""Helpers for the gadget-sales streaming workshop: one code path for the local and aws targets."""
