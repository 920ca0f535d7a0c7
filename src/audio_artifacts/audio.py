"""Read any recording as mono float32 blocks at the model's sample rate.

This is the only module that opens audio files for reading. Everything
libsndfile reads (WAV, FLAC, OGG/Vorbis/Opus, MP3 where the installed
libsndfile has it, AIFF, W64, RF64, ...) at any rate, bit depth and channel
count comes out as one channel of float32 at ``AudioConfig.sample_rate``.

Long recordings are streamed: the file is read block by block, mixed down
and resampled with soxr's streaming resampler, so memory stays bounded by the
block size whatever the recording's length. Every bad input becomes an
:class:`~audio_artifacts.errors.AudioLoadError` naming the file and the reason.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audio_artifacts.errors import AudioLoadError

# Upper bound on decoded input samples (frames x channels) held per block:
# 4 Mi float32 = 16 MiB. Keeps memory bounded for many-channel, high-rate files
# even when block_seconds is large.
_MAX_BLOCK_SAMPLES = 4 * 1024 * 1024

# Sample rates outside these come only from damaged or lying headers. The lower
# bound matters: at 1 Hz every byte of a file would be resampled into 32000
# samples, and a few MB of garbage would become months of "audio" to scan.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 10_000_000

# First bytes of containers libsndfile knows; used only to tell a damaged
# audio header from a file that is not audio at all.
_AUDIO_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"BW64", b"fLaC", b"OggS", b"ID3", b"FORM", b"riff", b".snd", b"caff")


@dataclass(frozen=True)
class AudioConfig:
    """How recordings are turned into model input.

    Parameters
    ----------
    sample_rate : int
        Output rate in Hz (the model's rate), 32000 by default.
    channel : str or int
        ``"mean"`` averages all channels; an int picks that 0-based channel.
    block_seconds : float
        Streaming block length in seconds of *input* audio (an upper bound:
        very wide or fast files get shorter blocks to stay within 16 MiB).
    """

    sample_rate: int = 32000
    channel: str | int = "mean"
    block_seconds: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int) or self.sample_rate <= 0:
            raise ValueError(f"AudioConfig.sample_rate must be a positive int (Hz), got {self.sample_rate!r}")
        if isinstance(self.channel, str):
            if self.channel != "mean":
                raise ValueError(f"AudioConfig.channel must be 'mean' or a 0-based channel index, got {self.channel!r}")
        elif isinstance(self.channel, bool) or not isinstance(self.channel, int) or self.channel < 0:
            raise ValueError(f"AudioConfig.channel must be 'mean' or a 0-based channel index >= 0, got {self.channel!r}")
        if not (self.block_seconds > 0) or not np.isfinite(self.block_seconds):
            raise ValueError(f"AudioConfig.block_seconds must be a positive number of seconds, got {self.block_seconds!r}")


@dataclass(frozen=True)
class AudioInfo:
    """What a recording's header says (before any conversion)."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    duration_s: float
    format: str
    subtype: str


def _check_path(path: Path) -> None:
    """Raise AudioLoadError for paths that are not readable, non-empty regular files."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise AudioLoadError(path, "broken symbolic link (its target does not exist)") from None
        raise AudioLoadError(path, "file does not exist") from None
    except PermissionError:
        raise AudioLoadError(path, "permission denied (the file or a folder above it is not accessible)") from None
    except OSError as exc:
        raise AudioLoadError(path, f"cannot be accessed: {exc.strerror or exc}") from None
    if stat.S_ISDIR(status.st_mode):
        raise AudioLoadError(path, "is a directory, not an audio file")
    if not stat.S_ISREG(status.st_mode):
        raise AudioLoadError(path, "is not a regular file (a pipe, socket or device?)")
    if status.st_size == 0:
        raise AudioLoadError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb") as handle:
            handle.read(16)
    except PermissionError:
        raise AudioLoadError(path, "permission denied (the file is not readable)") from None
    except OSError as exc:
        raise AudioLoadError(path, f"cannot be read: {exc.strerror or exc}") from None


def _looks_like_audio(head: bytes) -> bool:
    """True when the first bytes are a known audio container or an MPEG frame sync."""
    mpeg_sync = len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0
    return head.startswith(_AUDIO_MAGIC) or head[4:8] == b"ftyp" or mpeg_sync


def _open(path: Path) -> sf.SoundFile:
    """Open with libsndfile, turning its errors into a readable reason."""
    _check_path(path)
    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        with open(path, "rb") as raw:
            head = raw.read(16)
        detail = str(exc).split(": ", 1)[-1] if str(exc) else type(exc).__name__
        if "does not exist" in detail:  # libsndfile's catch-all; the file does exist
            detail = "libsndfile cannot parse it"
        if _looks_like_audio(head):
            raise AudioLoadError(path, f"damaged or truncated audio header ({detail})") from None
        raise AudioLoadError(path, f"not an audio file that libsndfile can read ({detail})") from None
    except OSError as exc:
        raise AudioLoadError(path, f"cannot be opened: {exc.strerror or exc}") from None
    if handle.samplerate <= 0 or handle.channels <= 0:
        handle.close()
        raise AudioLoadError(path, f"invalid header: {handle.samplerate} Hz, {handle.channels} channels")
    if not MIN_SAMPLE_RATE <= handle.samplerate <= MAX_SAMPLE_RATE:
        rate = handle.samplerate
        handle.close()
        raise AudioLoadError(
            path, f"implausible sample rate {rate} Hz in the header (damaged file?): "
                  f"recordings are read at {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz")
    truncation = _truncated_data_chunk(handle)
    if truncation:
        handle.close()
        raise AudioLoadError(path, truncation)
    if handle.frames <= 0:
        # Some containers (Ogg) report 0 frames when their end is cut off.
        try:
            probe = handle.read(1024, dtype="float32", always_2d=True).shape[0]
        except (sf.LibsndfileError, RuntimeError):
            probe = 0
        handle.close()
        if probe:
            raise AudioLoadError(path, "damaged or truncated file: header reports 0 frames but audio data follows")
        raise AudioLoadError(path, "contains no decodable audio frames (zero-length or truncated recording)")
    return handle


# libsndfile reports a RIFF/AIFF chunk longer than the file as "data : <declared> (should be <present>)".
_DATA_CHUNK_MISMATCH = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# Writers that stream to disk leave these placeholders when they never finalise the header.
_UNFINALISED_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFF - 8}


def _truncated_data_chunk(handle: sf.SoundFile) -> str | None:
    """A reason when the header promises more audio data than the file holds, else None.

    libsndfile silently reads what is there, so a WAV cut off mid-data would
    otherwise scan as a shorter, healthy recording.
    """
    match = _DATA_CHUNK_MISMATCH.search(handle.extra_info or "")
    if not match:
        return None
    declared, present = int(match.group(1)), int(match.group(2))
    if declared in _UNFINALISED_SIZES or present >= declared:
        return None
    return (
        f"truncated file: the header promises {declared} bytes of audio data but only "
        f"{present} are present ({100 * present / declared:.0f} %)"
    )


def read_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read a recording's header.

    Parameters
    ----------
    path : str or path-like
        The recording.

    Returns
    -------
    AudioInfo
        Native sample rate (Hz), channel count, frames, duration (s), format
        and subtype as libsndfile names them.

    Raises
    ------
    AudioLoadError
        Missing, unreadable, empty, non-audio, damaged or zero-length files.
    """
    path = Path(path)
    handle = _open(path)
    with handle:
        return AudioInfo(
            path=str(path),
            sample_rate=int(handle.samplerate),
            channels=int(handle.channels),
            frames=int(handle.frames),
            duration_s=handle.frames / handle.samplerate,
            format=str(handle.format),
            subtype=str(handle.subtype),
        )


def _select_channel(block: np.ndarray, channel: str | int) -> np.ndarray:
    """(frames, channels) -> (frames,) by mean or by picking one channel."""
    if channel == "mean":
        if block.shape[1] == 1:
            return block[:, 0]
        return block.mean(axis=1, dtype=np.float32)
    return block[:, int(channel)]


def stream_audio(path: str | os.PathLike[str], config: AudioConfig = AudioConfig()) -> Iterator[np.ndarray]:
    """Yield a recording as consecutive mono float32 blocks at ``config.sample_rate``.

    Parameters
    ----------
    path : str or path-like
        The recording.
    config : AudioConfig
        Output rate, channel handling, block length.

    Yields
    ------
    numpy.ndarray
        float32, shape ``(n,)``, ``n > 0``; concatenated, the blocks are the
        whole recording (about ``frames * sample_rate / native_rate`` samples).

    Raises
    ------
    AudioLoadError
        Any bad input (see :func:`read_info`), a channel index the file does
        not have, NaN / Inf samples (the message gives their time in seconds),
        or a read error part-way through the file.
    """
    path = Path(path)
    # Open and validate now, so a bad file fails at the call, not at the first block.
    handle = _open(path)
    channels = int(handle.channels)
    if config.channel != "mean" and int(config.channel) >= channels:
        handle.close()
        raise AudioLoadError(
            path, f"channel {config.channel} requested but the file has {channels} channel(s) (0-based index)"
        )
    return _blocks(path, handle, config)


def _blocks(path: Path, handle: sf.SoundFile, config: AudioConfig) -> Iterator[np.ndarray]:
    """The generator behind :func:`stream_audio`; closes ``handle`` when done."""
    with handle:
        rate_in = int(handle.samplerate)
        channels = int(handle.channels)
        block_frames = max(1, min(int(round(config.block_seconds * rate_in)), _MAX_BLOCK_SAMPLES // channels))
        resampler = None
        if rate_in != config.sample_rate:
            resampler = soxr.ResampleStream(rate_in, config.sample_rate, 1, dtype="float32", quality="HQ")
        frames_read = 0
        while True:
            try:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                detail = str(exc).replace("Error : ", "")
                raise AudioLoadError(
                    path,
                    f"decoding failed after {frames_read / rate_in:.3f} s of audio "
                    f"(damaged or truncated file?): {detail}",
                ) from None
            if block.shape[0] == 0:
                break
            finite = np.isfinite(block)
            if not finite.all():
                bad_frame = int(np.argmin(finite.all(axis=1)))
                bad_value = block[bad_frame][~finite[bad_frame]][0]
                raise AudioLoadError(
                    path,
                    f"non-finite sample ({bad_value}) at {(frames_read + bad_frame) / rate_in:.3f} s "
                    f"(frame {frames_read + bad_frame})",
                )
            frames_read += block.shape[0]
            mono = np.ascontiguousarray(_select_channel(block, config.channel), dtype=np.float32)
            del block, finite
            if resampler is not None:
                mono = resampler.resample_chunk(mono)
            if mono.size:
                yield mono
        if frames_read == 0:
            raise AudioLoadError(path, "contains no audio frames (zero-length recording)")
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if tail.size:
                yield np.ascontiguousarray(tail, dtype=np.float32)


def load_audio(path: str | os.PathLike[str], config: AudioConfig = AudioConfig()) -> np.ndarray:
    """Read a whole recording as one mono float32 array at ``config.sample_rate``.

    Same conversion and errors as :func:`stream_audio`; for short files
    (training, tests). Returns shape ``(samples,)``.
    """
    return np.concatenate(list(stream_audio(path, config)))


def write_audio(
    path: str | os.PathLike[str],
    samples: np.ndarray,
    sample_rate: int,
    subtype: str | None = "PCM_16",
) -> Path:
    """Write samples to an audio file whose format follows the extension.

    Parameters
    ----------
    path : str or path-like
        Destination; ``.wav``, ``.flac``, ``.ogg``, ``.mp3``, ... Parent
        folders are created.
    samples : numpy.ndarray
        ``(frames,)`` or ``(frames, channels)``, float in [-1, 1] for integer
        subtypes (values outside are clipped by libsndfile).
    sample_rate : int
        Hz.
    subtype : str or None
        libsndfile subtype (``"PCM_16"``, ``"PCM_24"``, ``"PCM_32"``,
        ``"PCM_U8"``, ``"FLOAT"``, ``"DOUBLE"``, ``"VORBIS"``,
        ``"MPEG_LAYER_III"``, ...); None takes the format's default.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    samples = np.asarray(samples)
    if samples.ndim not in (1, 2) or samples.shape[0] == 0 or (samples.ndim == 2 and samples.shape[1] == 0):
        raise ValueError(f"samples must have shape (frames,) or (frames, channels) with frames > 0, got {samples.shape}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")
    extension = path.suffix.lower().lstrip(".")
    formats = {name.lower(): name for name in sf.available_formats()}
    aliases = {"aif": "aiff", "aifc": "aiff", "oga": "ogg", "opus": "ogg"}
    file_format = formats.get(aliases.get(extension, extension))
    if file_format is None:
        raise ValueError(f"{path}: cannot tell the audio format from the extension {path.suffix!r}")
    if subtype is not None and subtype not in sf.available_subtypes(file_format):
        raise ValueError(
            f"{path}: subtype {subtype!r} is not valid for {file_format}; "
            f"choose one of {sorted(sf.available_subtypes(file_format))}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, int(sample_rate), subtype=subtype, format=file_format)
    return path


def read_segment(
    path: str | os.PathLike[str], start_s: float, end_s: float, channel: str | int = "mean",
    max_rate: int = 48000,
) -> tuple[np.ndarray, int, float]:
    """Read ``[start_s, end_s)`` of a recording, mono, at its own rate (at most ``max_rate``).

    For measuring inside an event (line frequencies, periods, times), where the
    model's 32 kHz would hide a 12 kHz whine of a 48 kHz recording but 96 kHz
    adds nothing an artifact uses.

    Returns
    -------
    samples : numpy.ndarray
        float32, shape ``(n,)``.
    rate : int
        Their sample rate, Hz (``min(native rate, max_rate)``).
    offset_s : float
        Time of the first sample, seconds (``start_s`` clipped to the file).

    Raises
    ------
    AudioLoadError
        As :func:`stream_audio`.
    """
    path = Path(path)
    if not end_s >= start_s:
        raise ValueError(f"read_segment: need end_s >= start_s, got {start_s}..{end_s}")
    handle = _open(path)
    with handle:
        native = int(handle.samplerate)
        if channel != "mean" and int(channel) >= handle.channels:
            raise AudioLoadError(path, f"channel {channel} requested but the file has {handle.channels} channel(s)")
        first = int(np.clip(round(max(start_s, 0.0) * native), 0, handle.frames))
        last = int(np.clip(round(end_s * native), first, handle.frames))
        try:
            handle.seek(first)
            block = handle.read(last - first, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioLoadError(path, f"decoding failed near {first / native:.3f} s: {exc}") from None
    mono = np.ascontiguousarray(_select_channel(block, channel), dtype=np.float32)
    mono[~np.isfinite(mono)] = 0.0
    rate = min(native, int(max_rate))
    if rate != native and mono.size:
        mono = soxr.resample(mono, native, rate, quality="HQ").astype(np.float32, copy=False)
    return mono, rate, first / native
