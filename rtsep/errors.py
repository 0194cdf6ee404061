"""User-facing errors: each one is printed as a single line by the CLI, never a traceback."""


class RtsepError(Exception):
    """A problem the user can fix (bad input, missing device, broken model...)."""


class ModelError(RtsepError):
    """The model file is missing, corrupt, or lacks the metadata the separator needs."""


class AudioFileError(RtsepError):
    """An input file cannot be read, or an output cannot be written."""


class DeviceError(RtsepError):
    """An audio device or the audio library is missing or failed."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an error's message, at most ``limit`` characters; the error's type name
    when the message is empty (``str(exc).splitlines()[0]`` alone fails on an empty one)."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
