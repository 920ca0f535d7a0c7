#!/usr/bin/env bash
# Rebuild the bundled default model from nothing: simulate the data, train,
# evaluate on the held-out test split, export to ONNX (with its parity check)
# and copy the model directory into the package. About 25 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
audio-artifacts simulate data/sim --n 4000 --seed 0 --split --workers 2
audio-artifacts train --config configs/default.yaml --out runs/bundled
audio-artifacts evaluate runs/bundled/model data/sim/test.csv --out runs/bundled/eval-test \
    --by artifact_types stimulus
audio-artifacts export runs/bundled/model --onnx runs/bundled/model/model.onnx
rm -rf src/audio_artifacts/default_model
cp -r runs/bundled/model src/audio_artifacts/default_model
cp runs/bundled/eval-test/report.md src/audio_artifacts/default_model/TEST_REPORT.md
