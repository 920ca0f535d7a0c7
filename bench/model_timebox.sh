#!/usr/bin/env bash
# Time-boxed CPU comparison of registry models on the same simulated data
# (docs/models.md, "Every model on the same data"): each model's configs/<name>.yaml
# trained for the same budget of STEPS x BATCH windows on a balanced subset of the
# training split, threshold on a validation subset, then evaluated next to the bundled
# fast model and the classical baseline (runs/dsp_baseline/model, if present) on
# balanced subsets of the test and foreign splits; bench/onset_error.py prints the
# event-onset error on the test subset (frames for the attention models, windows for
# all); then bench/model_cost.py prints parameters, GMAC, ms per 5 s window on
# 2 threads and training windows/s; bench/model_table.py prints them as one table.
# No official PANNs checkpoints are reachable offline: the PANNs-based models start
# from random weights. Needs data/sim from scripts/make_default_model.sh.
#
#   bench/model_timebox.sh [MODEL ...]     (default: the three CNNs and the three attention models)
#   environment: DATA=data/sim OUT=runs/timebox STEPS=15 BATCH=16
#                N_TRAIN=240 N_VAL=40 N_TEST=60 N_FOREIGN=60 COST_REPEATS=3 ONNX="fast"
#                BASELINE=1 (0: leave the classical baseline out)
#                COST_ARGS="..." (more bench/model_cost.py options, e.g. "--batch 4")
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/sim}
OUT=${OUT:-runs/timebox}
STEPS=${STEPS:-15}
BATCH=${BATCH:-16}
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
    models=(cnn14 wavegram_logmel_cnn14 resnet54 cnn14_att spectrogram_transformer wavegram_att)
fi

python bench/subset_manifest.py "$DATA" train:"${N_TRAIN:-240}" val:"${N_VAL:-40}" \
    test:"${N_TEST:-60}" foreign:"${N_FOREIGN:-60}"

dirs=(src/audio_artifacts/default_model)
cost=(fast)
if [ "${BASELINE:-1}" = 1 ]; then  # the classical baseline on the same training subset (seconds to fit)
    start=$(date +%s)
    audio-artifacts train --config configs/dsp_baseline.yaml --out "$OUT/dsp_baseline" \
        data.train_manifest="$DATA/train_small.csv" data.val_manifest="$DATA/val_small.csv" logger.mlflow=false
    echo "# dsp_baseline: fit wall $(( $(date +%s) - start )) s on the same training subset"
    dirs+=("$OUT/dsp_baseline/model")
    cost+=(dsp_baseline)
fi
for m in "${models[@]}"; do
    start=$(date +%s)
    audio-artifacts train --config "configs/$m.yaml" --out "$OUT/$m" \
        data.train_manifest="$DATA/train_small.csv" data.val_manifest="$DATA/val_small.csv" \
        data.batch_size="$BATCH" data.eval_batch_size="$BATCH" data.num_workers=0 \
        trainer.max_epochs=1 trainer.max_steps="$STEPS" trainer.precision=32-true \
        trainer.accelerator=cpu logger.mlflow=false
    speed=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['fit'].get('train_windows_per_s', '-'))" \
        "$OUT/$m/metrics.json")
    echo "# $m: train wall $(( $(date +%s) - start )) s, $speed training windows/s ($STEPS steps x $BATCH windows)"
    dirs+=("$OUT/$m/model")
    cost+=("$m")
done

for split in test foreign; do
    if [ -f "$DATA/${split}_small.csv" ]; then
        audio-artifacts evaluate "${dirs[@]}" "$DATA/${split}_small.csv" --out "$OUT/eval-$split"
    fi
done
if [ -f "$DATA/test_small.csv" ]; then
    python bench/onset_error.py "${dirs[@]}" --manifest "$DATA/test_small.csv" --batch "$BATCH" --json "$OUT/onsets.json"
fi
# shellcheck disable=SC2086  # ONNX and COST_ARGS are lists of words
python bench/model_cost.py --models "${cost[@]}" --onnx ${ONNX:-fast} --repeats "${COST_REPEATS:-3}" --threads 2 \
    --json "$OUT/cost.json" ${COST_ARGS:-}
# the one table (docs/models.md) from what this wrote
python bench/model_table.py "$OUT"
