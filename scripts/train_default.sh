#!/usr/bin/env bash
# Train the shipped default model, stage by stage, on the synthetic MusicSet; every stage resumes.
#
#   bash scripts/train_default.sh [STAGE ...]
#   stages: data aligner baseline retriever vae diffusion ablation melody melody-probes melody-ablations ship eval
#   (`diffusion` trains the v1 UNet, the paper's global-vector design; `melody` warm-starts the v2 default from it
#   with the frame-aligned melody sketch; `melody-ablations` trains the global-vector-only and text-only ablations
#   from the same start, on the same crops and budget)
#
# Environment knobs (defaults sized for the 2-core CPU; raise them on a GPU machine):
#   DATA=data/musicset-full PRESET=full RUNS=runs OUT=checkpoints/mmgen-default THREADS=1
#   ALIGN_STEPS VAE_STEPS DIFF_STEPS  (optimizer steps per stage), ALIGN_BS VAE_BS DIFF_BS (batch sizes)
# Intermediate checkpoints go to $RUNS (git-ignored); only the final small safetensors land in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PRESET=${PRESET:-full}  # synthetic MusicSet preset of the data stage (small: 2,000 clips, full: 10,000)
DATA=${DATA:-data/musicset-$PRESET}
RUNS=${RUNS:-runs}
OUT=${OUT:-checkpoints/mmgen-default}
THREADS=${THREADS:-1}
RESULTS=${RESULTS:-benchmarks/results}  # measured figures of the run (point elsewhere for trial runs)
# Aligner: 2,400 steps of 32 clips take the tri-modal aligner 40 min on one core (within one CPU-hour: 8 min of
# caption caching, then ~0.8-1 s/step); the bi-modal baseline gets the same steps (26 min).
# (The v0 default was trained on the small preset with ALIGN_STEPS=1200 ALIGN_BS=16 VAE_STEPS=600 VAE_DISC_START=400
# DIFF_STEPS=400.)
ALIGN_STEPS=${ALIGN_STEPS:-2400}
# VAE: 1,000 steps of 8 two-second crops (~2.8 s/step on one core, 47 min) reach validation log-mel L1 0.30. The patch
# discriminator is off by default (VAE_DISC_START): switched on at step 1,000 it raised the reconstruction L1 from
# ~0.045 to 0.06-0.10 within 20 steps, and each step cost 4.8 s.
VAE_STEPS=${VAE_STEPS:-1000}
VAE_DISC_START=${VAE_DISC_START:-1000000}
# UNet: 1,200 steps x 16 cached 5 s crops, ~3.2 s/step on one core (64 min) with the ablation on the other; the
# frozen-feature cache (VAE posteriors, q, own melodies of 2 crops per clip) takes 42 min once and both runs share it.
# The VAE posteriors are the bulk of it and are kept apart from the aligner's embeddings: a new aligner recomputes only
# q and the own-melody embeddings (4 min on one core, measured with runs-v2/aligner-keygroups).
DIFF_STEPS=${DIFF_STEPS:-1200}
# v2 (frame-aligned melody sketch): MELODY_STEPS x 16 cached 5 s crops in fp32 (this CPU has no AVX-512: bf16 autocast
# ran several times slower here; add --mixed_precision bf16 on GPUs), warm-started from INIT_FROM (the
# v1 pipeline: its UNet gains 8 zero-initialised conv_in input channels for the sketch latent). The ablations get the
# same start, crops and steps. ALIGNER / VAE / RETRIEVER: the frozen parts (default: this recipe's own runs).
# Each step trains on a random TRAIN_CROP_S window of the cached 5 s crops (half the compute of a whole crop).
MELODY_STEPS=${MELODY_STEPS:-1200} TRAIN_CROP_S=${TRAIN_CROP_S:-2.8}
INIT_FROM=${INIT_FROM:-$RUNS/mmgen}
ALIGNER=${ALIGNER:-$RUNS/aligner} VAE=${VAE:-$RUNS/vae} RETRIEVER=${RETRIEVER:-$RUNS/retriever}
SHIP_FROM=${SHIP_FROM:-$RUNS/mmgen-v2}
EVAL_CLIPS=${EVAL_CLIPS:-32}
ALIGN_BS=${ALIGN_BS:-32} VAE_BS=${VAE_BS:-8} DIFF_BS=${DIFF_BS:-16} CROPS=${CROPS:-2}
COMMON=(--num_threads "$THREADS" --report_to none --resume_from_checkpoint latest --checkpoints_total_limit 1)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS="$THREADS"
stages=("$@")
((${#stages[@]})) || stages=(data aligner baseline retriever vae diffusion ablation melody melody-probes melody-ablations ship eval)
mkdir -p "$RUNS" "$RESULTS"

for stage in "${stages[@]}"; do
  echo "=== stage $stage ($(date +%H:%M:%S))"
  case $stage in
    data)
      $PY -m mmgen data synth --preset "$PRESET" --output "$DATA" --num-proc 2 ;;
    aligner)  # tri-modal aligner (paper eq. 6-7)
      $PY train/align.py --dataset "$DATA" --output_dir "$RUNS/aligner" --max_train_steps "$ALIGN_STEPS" \
        --train_batch_size "$ALIGN_BS" --learning_rate 3e-4 --lr_warmup_steps 100 --lr_scheduler cosine \
        --alt_caption_prob 0.5 --checkpointing_steps 250 --validation_steps 600 "${COMMON[@]}" ;;
    baseline)  # bi-modal CLAP-style baseline, same code and budget
      $PY train/align.py --dataset "$DATA" --output_dir "$RUNS/aligner-bimodal" --modalities audio,text \
        --max_train_steps "$ALIGN_STEPS" --train_batch_size "$ALIGN_BS" --learning_rate 3e-4 --lr_warmup_steps 100 \
        --lr_scheduler cosine --alt_caption_prob 0.5 --checkpointing_steps 250 --validation_steps 600 "${COMMON[@]}"
      $PY -m mmgen eval align --model "$RUNS/aligner" --baseline "$RUNS/aligner-bimodal" --dataset "$DATA" \
        --split test --output "$RESULTS/alignment.json" ;;
    retriever)  # choose the index by intersection rate, then index the training melodies
      $PY -m mmgen retrieval sweep --aligner "$RUNS/aligner" --dataset "$DATA" --split validation -k 10 \
        --output "$RESULTS/isr_sweep.json"
      read -r index params < <($PY -c "
import json; best = json.load(open('$RESULTS/isr_sweep.json'))['best']
print(best['index'], ' '.join(f'--param {k}={v}' for k, v in best['params'].items()))")
      # shellcheck disable=SC2086
      $PY -m mmgen retrieval build --aligner "$RUNS/aligner" --dataset "$DATA" --split train --index "$index" \
        $params --output "$RUNS/retriever" ;;
    vae)
      $PY train/vae.py --dataset "$DATA" --output_dir "$RUNS/vae" --max_train_steps "$VAE_STEPS" \
        --train_batch_size "$VAE_BS" --crop_seconds 2 --learning_rate 4.5e-4 --lr_warmup_steps 100 \
        --disc_start_step "$VAE_DISC_START" --checkpointing_steps 100 --validation_steps 1000 "${COMMON[@]}" ;;
    diffusion)
      $PY train/diffusion.py --dataset "$DATA" --aligner "$RUNS/aligner" --vae "$RUNS/vae" --retriever "$RUNS/retriever" \
        --output_dir "$RUNS/mmgen" --cache_dir "$RUNS/diffusion-cache" --max_train_steps "$DIFF_STEPS" --train_batch_size "$DIFF_BS" --clip_seconds 5 \
        --crops_per_clip "$CROPS" --learning_rate 3e-4 --lr_warmup_steps 100 --checkpointing_steps 200 \
        --validation_steps 100000 "${COMMON[@]}" ;;
    ablation)  # text-only condition, same code, budget and frozen-feature cache
      $PY train/diffusion.py --dataset "$DATA" --aligner "$RUNS/aligner" --vae "$RUNS/vae" --retriever "$RUNS/retriever" \
        --output_dir "$RUNS/mmgen-text-only" --cache_dir "$RUNS/diffusion-cache" --condition text_only --max_train_steps "$DIFF_STEPS" \
        --train_batch_size "$DIFF_BS" --clip_seconds 5 --learning_rate 3e-4 --lr_warmup_steps 100 \
        --crops_per_clip "$CROPS" --checkpointing_steps 200 --validation_steps 100000 "${COMMON[@]}" ;;
    melody)  # the v2 default: frame-aligned melody sketch + the global c = MLP([q, r]) of the clip's own melody
      $PY train/diffusion.py --dataset "$DATA" --aligner "$ALIGNER" --vae "$VAE" --retriever "$RETRIEVER" \
        --output_dir "$RUNS/mmgen-v2" --cache_dir "$RUNS/diffusion-cache" --init_from "$INIT_FROM" \
        --melody_input sketch --sketch_notes mixed --melody_dropout 0.1 --max_train_steps "$MELODY_STEPS" \
        --train_batch_size "$DIFF_BS" --clip_seconds 5 --crops_per_clip "$CROPS" --train_crop_seconds "$TRAIN_CROP_S" --learning_rate 1e-4 \
        --lr_warmup_steps 50 --checkpointing_steps 250 --validation_steps 100000 "${COMMON[@]}" ;;
    melody-probes)  # which frame-aligned representation: sketch vs piano roll, 250 steps each from the same start
      for input in sketch pianoroll; do
        $PY train/diffusion.py --dataset "$DATA" --aligner "$ALIGNER" --vae "$VAE" --retriever "$RETRIEVER" \
          --output_dir "$RUNS/probe-$input" --cache_dir "$RUNS/diffusion-cache" --init_from "$INIT_FROM" \
          --melody_input "$input" --sketch_notes mixed --melody_dropout 0.1 --max_train_steps 250 \
          --train_batch_size "$DIFF_BS" --clip_seconds 5 --crops_per_clip "$CROPS" --train_crop_seconds "$TRAIN_CROP_S" \
          --learning_rate 1e-4 --lr_warmup_steps 50 --checkpointing_steps 125 --validation_steps 100000 "${COMMON[@]}"
      done
      $PY benchmarks/melody_representation.py --pipelines "$RUNS/probe-sketch" "$RUNS/probe-pianoroll" --dataset "$DATA" \
        --num_clips 8 --steps 50 --output "$RESULTS/melody_representation.json" ;;
    melody-ablations)  # same start, crops, steps as `melody`: the melody only as the global vector c (the clip's own
      # melody, q and r centred and scaled before the projector), and text only; one per core (ABLATIONS picks some)
      pids=()
      for ablation in ${ABLATIONS:-global text-only}; do
        case $ablation in
          global) flags=(--melody_input none --melody_source own --normalize_condition_inputs --melody_dropout 0.1) ;;
          text-only) flags=(--condition text_only) ;;
          *) echo "unknown ablation $ablation" >&2; exit 2 ;;
        esac
        $PY train/diffusion.py --dataset "$DATA" --aligner "$ALIGNER" --vae "$VAE" --retriever "$RETRIEVER" \
          --output_dir "$RUNS/mmgen-v2-$ablation" --cache_dir "$RUNS/diffusion-cache" --init_from "$INIT_FROM" \
          "${flags[@]}" --max_train_steps "$MELODY_STEPS" --train_batch_size "$DIFF_BS" \
          --clip_seconds 5 --crops_per_clip "$CROPS" --train_crop_seconds "$TRAIN_CROP_S" --learning_rate 1e-4 \
          --lr_warmup_steps 50 --checkpointing_steps 250 --validation_steps 100000 "${COMMON[@]}" &
        pids+=($!)
      done
      for pid in "${pids[@]}"; do wait "$pid"; done ;;
    eval)  # measures the shipped folder (float16-stored weights) against the v2 ablations, on EVAL_CLIPS test clips
      # and on the test clips that no model part has seen (those the v1 retriever, built on the full set's train split,
      # does not index); rows are written as they finish, `--update --rows ...` remeasures some of them
      $PY benchmarks/generation.py --pipeline "$OUT" --text_only_pipeline "$RUNS/mmgen-v2-text-only" \
        --global_only_pipeline "$RUNS/mmgen-v2-global" --threads "$THREADS" --dataset "$DATA" \
        --num_clips "$EVAL_CLIPS" --steps 50 --latency_steps 50 --latency_repeats 1 --sensitivity_clips 4 \
        --output "$RESULTS/generation.json"
      $PY benchmarks/generation.py --pipeline "$OUT" --text_only_pipeline "$RUNS/mmgen-v2-text-only" \
        --global_only_pipeline "$RUNS/mmgen-v2-global" --threads "$THREADS" --dataset "$DATA" \
        --exclude_indexed_by "$RETRIEVER" --steps 50 --latency_steps --sensitivity_clips 0 \
        --output "$RESULTS/generation-unseen.json" ;;
    ship)  # the final pipeline, weights only, UNet/VAE/projector in float16 (they load as float32)
      rm -rf "$OUT" && mkdir -p "$(dirname "$OUT")"
      $PY -c "
import torch
from pipelines import MMGenPipeline
pipe = MMGenPipeline.from_pretrained('$SHIP_FROM')
for name in ('unet', 'vae', 'condition_projector'):
    getattr(pipe, name).to(torch.float16)
pipe.save_pretrained('$OUT')"
      cp model_cards/mmgen_pipeline.md "$OUT/README.md" ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
