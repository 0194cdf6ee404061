"""The live host: duplex streaming, taps for a GUI, latency measurement.

Importing this package does not import ``sounddevice``/PortAudio; only starting a stream
does (:mod:`rtsep.host.audio`).
"""
