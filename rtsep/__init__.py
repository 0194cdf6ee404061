"""rtsep: real-time singing-voice separation."""
