#!/usr/bin/env bash
# Time-boxed CPU comparison of the PANNs classifiers with the fast default model
# on the same simulated data (docs/models.md, "Every model on the same data"):
# bench/model_timebox.sh with the three CNNs only (15 steps of 16 windows on a
# 240-recording subset of the training split, about 1.5-3 min per model on 2 CPU
# cores; threshold on 40 validation recordings, evaluated on 60 test recordings).
# Needs data/sim from scripts/make_default_model.sh (or its simulate line).
set -euo pipefail
OUT=${OUT:-runs/panns-timebox} exec "$(dirname "$0")/model_timebox.sh" cnn14 wavegram_logmel_cnn14 resnet54
