"""audio-artifacts: find sounds a hearing aid makes by itself in its test recordings."""

__version__ = "0.1.0"
