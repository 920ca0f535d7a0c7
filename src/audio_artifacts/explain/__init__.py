"""Explanation: what a flagged event is, measured in its audio (plain numpy / scipy).

One job per module, each usable on its own and tested on synthetic signals:

* :mod:`.spectra` -- short-time power spectra at fine and coarse resolution, floors;
* :mod:`.lines` -- line picking against the spectral floor, buzz combs (fundamental);
* :mod:`.periods` -- band envelopes, their autocorrelation, impulse trains;
* :mod:`.timing` -- onset / offset of a track against its floor, with sub-frame precision;
* :mod:`.measure` -- all of the above on one event's audio, and the features of the type head;
* :mod:`.type_head` -- the multi-label logistic type head (JSON in the model directory).

:mod:`audio_artifacts.inference.describe` turns these into the fields of
:class:`audio_artifacts.results.schema.Event`. Nothing is imported at import time.
"""
