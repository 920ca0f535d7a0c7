#!/usr/bin/env bash
# Time-boxed CPU comparison of the PANNs classifiers with the fast default model
# on the same simulated data (docs/models.md, "Every model on the same data").
# No official PANNs checkpoints are reachable offline, so the PANNs backbones
# start from random weights: 15 steps of 16 windows each on a 240-recording
# subset of the training split (about 1.5-3 min per model on 2 CPU cores),
# threshold on 40 validation recordings, evaluated on 60 test recordings.
# Needs data/sim from scripts/make_default_model.sh (or its simulate line).
set -euo pipefail
cd "$(dirname "$0")/.."
python - <<'PY'
import csv
for split, n in (("train", 240), ("val", 40), ("test", 60)):
    rows = list(csv.reader(open(f"data/sim/{split}.csv"), delimiter=";"))
    header, body = rows[0], rows[1:]
    pos = [r for r in body if r[1] == "artifact"]
    neg = [r for r in body if r[1] != "artifact"]
    pick = [row for pair in zip(pos, neg) for row in pair][:n]  # balanced, deterministic
    with open(f"data/sim/{split}_small.csv", "w", newline="") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(header)
        writer.writerows(pick)
PY
models=()
for m in cnn14 wavegram_logmel_cnn14 resnet54; do
    start=$(date +%s)
    audio-artifacts train --config configs/$m.yaml --out runs/$m-cpu-timebox \
        data.train_manifest=data/sim/train_small.csv data.val_manifest=data/sim/val_small.csv \
        data.batch_size=16 data.eval_batch_size=16 data.num_workers=0 \
        trainer.max_epochs=1 trainer.max_steps=15 trainer.precision=32-true \
        trainer.accelerator=cpu logger.mlflow=false
    echo "$m: train wall $(( $(date +%s) - start )) s"
    models+=(runs/$m-cpu-timebox/model)
done
audio-artifacts evaluate src/audio_artifacts/default_model "${models[@]}" data/sim/test_small.csv \
    --out runs/panns-timebox-eval
