#!/usr/bin/env bash
# Aligner variants tried against the audio-melody target of issue 5, each on the budget of the shipped aligner
# (2,400 steps x 32 clips of the full MusicSet, one CPU core), scored on the 1,000-clip test split.
#
#   bash scripts/align_experiments.sh [VARIANT ...]   # variants: pitch keygroups keygroups-pitch continued
#
# Needs the shipped run's aligners in $BASE (RUNS=runs-v1 bash scripts/train_default.sh aligner baseline).
# Writes benchmarks/results/alignment-<variant>.json/.md (tri-modal variant vs the bi-modal baseline given).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DATA=${DATA:-data/musicset-full}
BASE=${BASE:-runs-v1}
RUNS=${RUNS:-runs-v2}
RESULTS=${RESULTS:-benchmarks/results}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1
COMMON=(--dataset "$DATA" --train_batch_size 32 --lr_scheduler cosine --alt_caption_prob 0.5 --checkpointing_steps 250
  --validation_steps 600 --num_threads 1 --report_to none --resume_from_checkpoint latest --checkpoints_total_limit 1)
RECIPE=(--max_train_steps 2400 --learning_rate 3e-4 --lr_warmup_steps 100)
variants=("$@")
((${#variants[@]})) || variants=(pitch keygroups keygroups-pitch continued)
evaluate() {  # $1 variant, $2 tri-modal folder, $3 bi-modal baseline folder
  $PY -m mmgen eval align --model "$2" --baseline "$3" --dataset "$DATA" --split test \
    --output "$RESULTS/alignment-$1.json"
}
for variant in "${variants[@]}"; do
  echo "=== $variant ($(date +%H:%M:%S))"
  case $variant in
    pitch)  # 64 semitone rows beside the log-mel (HTS-AT 128 x 128: 64 mel + 64 semitone rows, 128 frames)
      $PY train/align.py --output_dir "$RUNS/aligner" --audio_pitch_bins 64 "${RECIPE[@]}" "${COMMON[@]}"
      $PY train/align.py --output_dir "$RUNS/aligner-bimodal" --modalities audio,text --audio_pitch_bins 64 \
        "${RECIPE[@]}" "${COMMON[@]}"
      evaluate pitch-frontend "$RUNS/aligner" "$RUNS/aligner-bimodal" ;;
    keygroups)  # hard negatives: every batch is 4 keys x 8 clips
      $PY train/align.py --output_dir "$RUNS/aligner-keygroups" --batch_grouping key --groups_per_batch 4 \
        "${RECIPE[@]}" "${COMMON[@]}"
      evaluate keygroups "$RUNS/aligner-keygroups" "$BASE/aligner-bimodal" ;;
    keygroups-pitch)
      $PY train/align.py --output_dir "$RUNS/aligner-keygroups-pitch" --batch_grouping key --groups_per_batch 4 \
        --audio_pitch_bins 64 "${RECIPE[@]}" "${COMMON[@]}"
      evaluate keygroups-pitch "$RUNS/aligner-keygroups-pitch" "$RUNS/aligner-bimodal" ;;
    continued)  # twice the compute: the shipped aligner trained for 2,400 more steps
      $PY train/align.py --output_dir "$RUNS/aligner-v1-continued" --pretrained_model_name_or_path "$BASE/aligner" \
        --max_train_steps 2400 --learning_rate 1.5e-4 --lr_warmup_steps 50 "${COMMON[@]}"
      evaluate v1-continued "$RUNS/aligner-v1-continued" "$BASE/aligner-bimodal" ;;
    *) echo "unknown variant $variant" >&2; exit 2 ;;
  esac
done
