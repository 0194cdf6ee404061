"""User-facing errors: each one is printed as a single line by the CLI, never a traceback."""


class RtsepError(Exception):
    """A problem the user can fix (bad input, missing device, broken model...)."""


class ModelError(RtsepError):
    """The model file is missing, corrupt, or lacks the metadata the separator needs."""


class AudioFileError(RtsepError):
    """An input file cannot be read, or an output cannot be written."""


class DeviceError(RtsepError):
    """An audio device or the audio library is missing or failed."""
