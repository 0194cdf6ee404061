"""Pitch guide and score for karaoke.

- ``reference_melody(vocals, sample_rate, hop_s=0.01) -> Melody`` and ``MelodyTracker`` (chunk by
  chunk, librosa pYIN): the song's sung melody from its separated vocals; ``MelodyProcess``: the same
  tracker in a child process, for hosts whose audio callback needs the GIL; ``MelodyServer``: one
  such child for many songs (an evening's queue).
- ``song_melody(vocals, sample_rate, hop_s=0.01) -> Melody``: a whole song's melody at the file's rate
  (``rtsep melody``; settings for separated vocals, see ``song.py``).
- ``StreamingPitch(sample_rate, hop_samples=None)``: the singer's live f0 (librosa YIN per hop).
- ``Scorer(melody, tolerance_cents=50.0)`` and ``cents_error_folded``: the octave-folded score.
- ``read_melody_csv`` / ``write_melody_csv``: ``time_s,f0_hz`` files (``rtsep melody``).
"""

from .csvfile import read_melody_csv, write_melody_csv
from .melody import Melody
from .reference import MelodyTracker, reference_melody
from .score import Scorer, cents_error_folded
from .signal import PitchError
from .song import song_melody
from .streaming import StreamingPitch
from .worker import MelodyProcess, MelodyServer

__all__ = ["Melody", "MelodyTracker", "MelodyProcess", "MelodyServer", "reference_melody", "StreamingPitch", "Scorer",
           "cents_error_folded", "read_melody_csv", "write_melody_csv", "PitchError", "song_melody"]
