"""What the service does with one uploaded file (runs in a worker thread).

Kept apart from the HTTP layer: these are plain blocking functions over a
`Detector` and a stored upload; `app` runs them off the event loop.
"""

from __future__ import annotations

import dataclasses

from audio_artifacts.errors import AudioLoadError
from audio_artifacts.results.schema import FileIdentity, ScanResult
from audio_artifacts.service.uploads import ReceivedFile, UploadError


def with_threshold(result: ScanResult, threshold: float | None) -> ScanResult:
    """``result`` decided at ``threshold`` instead (verdict, ``triggered_at``, events).

    The window probabilities and the recording probability do not depend on
    the threshold, so a request's own threshold needs no second model pass.
    The events come back plain (runs of flagged windows): describe them with
    ``Detector.describe_result``.
    """
    if threshold is None or threshold == result.threshold:
        return result
    if not result.ok:
        return dataclasses.replace(result, threshold=threshold)
    redecided = ScanResult.from_windows(
        result.path,
        windows=result.windows,
        threshold=threshold,
        model=result.model,
        duration_s=result.duration_s,
        sample_rate=result.sample_rate,
        channels=result.channels,
        probability=result.probability,
    )
    return dataclasses.replace(redecided, identity=result.identity)


def hide_server_paths(text: str, upload: ReceivedFile) -> str:
    """Replace the upload's server-side path (and folder) in a message by its file name."""
    text = text.replace(str(upload.path), upload.filename)
    return text.replace(str(upload.path.parent), "<upload>")


def scan_upload(detector, upload: ReceivedFile, threshold: float | None,  # noqa: ANN001
                stimulus: ReceivedFile | None = None) -> ScanResult:
    """Scan one stored upload; a broken file gives an error result, never an exception.

    Parameters
    ----------
    detector : audio_artifacts.inference.detector.Detector
    upload : ReceivedFile
        The stored upload; its sanitised client name becomes ``path``.
    threshold : float, optional
        Decision threshold for this request; None keeps the detector's.
    stimulus : ReceivedFile, optional
        What the test system played (stimulus-aware scan).
    """
    identity = FileIdentity.of(upload.path, with_mtime=False)  # our own copy: it cannot change under us
    scanned = detector.scan_file(upload.path, display_name=upload.filename,
                                 stimulus=None if stimulus is None else stimulus.path,
                                 stimulus_name=None if stimulus is None else stimulus.filename)
    result = dataclasses.replace(scanned, identity=identity)
    if result.error is not None:
        error = hide_server_paths(result.error, upload)
        result = dataclasses.replace(result, error=error if stimulus is None else hide_server_paths(error, stimulus))
    redecided = with_threshold(result, threshold)
    if redecided is not result:
        redecided = detector.describe_result(redecided, upload.path,  # other events: described anew
                                              None if stimulus is None else stimulus.path)
    return redecided


def scan_single_upload(detector, upload: ReceivedFile, threshold: float | None,  # noqa: ANN001
                       stimulus: ReceivedFile | None = None) -> ScanResult:
    """Like `scan_upload`, but a file that cannot be scanned raises `UploadError`.

    Raises
    ------
    UploadError
        415 when the upload is not a recording we can read (checked from its
        header before any decoding), 422 when it is one but cannot be scanned
        (e.g. damaged data, non-finite samples).
    """
    from audio_artifacts.audio import read_info

    try:
        read_info(upload.path)
    except AudioLoadError as exc:
        reason = hide_server_paths(exc.reason, upload)
        raise UploadError(415, f"upload {upload.filename!r} is not a recording we can read: {reason}") from None
    if stimulus is not None:
        try:
            read_info(stimulus.path)
        except AudioLoadError as exc:
            reason = hide_server_paths(exc.reason, stimulus)
            raise UploadError(415, f"stimulus {stimulus.filename!r} is not audio we can read: {reason}") from None
    result = scan_upload(detector, upload, threshold, stimulus)
    if not result.ok:
        reason = (result.error or "").removeprefix(f"{upload.filename}: ")
        raise UploadError(422, f"upload {upload.filename!r} could not be scanned: {reason}")
    return result
