#!/usr/bin/env bash
# Rebuild the bundled default model from nothing, on 2 CPU cores:
#   1. the stimulus bank of real sounds (Debian / PyPI packages; ~4 min, cached)
#   2. 6000 simulated recordings (train / val / test) + 800 of the foreign split
#      (held-out device families, held-out speakers, voices, engines, soundfonts
#      and pieces, new seeds; ~12 min)
#   3. training (configs/default.yaml) and the classical DSP baseline, then the
#      event type head on measured features of the training events (~15 min)
#   4. evaluation of both on the own test split and on the foreign split
#      (per stimulus, duration band, artifact type and level band)
#   5. the residual model: the residuals `scan --stimulus` judges, written for
#      the training and validation splits (~10 min), and the detector fine-tuned
#      on recordings + residuals (configs/stimulus_aware.yaml, ~30 min)
#   6. ONNX export with its parity check, and the copy into the package
# Every figure in docs/models.md and the model card comes from the reports this writes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build_stimulus_bank.sh data/stimulus_bank --workers 2
audio-artifacts simulate data/sim --n 6000 --seed 0 --split --foreign 800 --stimuli data/stimulus_bank --workers 2
audio-artifacts train --config configs/default.yaml --out runs/bundled
audio-artifacts train --config configs/dsp_baseline.yaml --out runs/dsp_baseline
python scripts/fit_type_head.py runs/bundled/model --train data/sim/train.csv --val data/sim/val.csv \
    --cache runs/bundled/type_head_features
for split in test foreign; do
    audio-artifacts evaluate runs/bundled/model runs/dsp_baseline/model data/sim/$split.csv \
        --out runs/bundled/eval-$split --by artifact_types stimulus
done
for split in train val; do
    python scripts/make_residuals.py data/sim/$split.csv data/residuals --workers 2
done
audio-artifacts train --config configs/stimulus_aware.yaml --out runs/stimulus_aware \
    model.init_from=runs/bundled/model
audio-artifacts export runs/bundled/model --onnx runs/bundled/model/model.onnx
audio-artifacts export runs/stimulus_aware/model --onnx runs/stimulus_aware/model/model.onnx
cp -r runs/stimulus_aware/model runs/bundled/model/residual
rm -rf src/audio_artifacts/default_model
cp -r runs/bundled/model src/audio_artifacts/default_model
cp runs/bundled/eval-foreign/report.md src/audio_artifacts/default_model/FOREIGN_REPORT.md
cp runs/bundled/eval-test/report.md src/audio_artifacts/default_model/TEST_REPORT.md
cat scripts/default_model_card_notes.md >> src/audio_artifacts/default_model/MODEL_CARD.md
