"""Pure order logic: no I/O, no clock reads. Time is always passed in."""
