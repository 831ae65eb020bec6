"""`pydock compose`: the loader (files, interpolation, merging), the plan, and up/down over the runtime."""
