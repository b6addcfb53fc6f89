#!/bin/bash
# The published sft/sft_scripts/gp_l.sh launch line, flag for flag (from ../shared/docs/published-configs.md).
# Tests swap only the paths (model, data, output, DeepSpeed file) and the entry point.
PYTHONPATH=src deepspeed src/training/train.py \
    --deepspeed sft_scripts/zero3_offload.json \
    --model_id meta-llama/Llama-3.2-11B-Vision-Instruct \
    --data_path YOUR_JSON_DATA_PATH \
    --image_folder ./ \
    --lora_enable False \
    --tune_img_projector True \
    --freeze_vision_tower False \
    --freeze_llm False \
    --output_dir ../train_ckpt/gp_l_sft \
    --num_train_epochs 1 \
    --per_device_train_batch_size 16 \
    --gradient_accumulation_steps 1 \
    --learning_rate 1e-6 \
    --projector_lr 1e-6 \
    --vision_lr 1e-6 \
    --weight_decay 0. \
    --warmup_ratio 0.03 \
    --lr_scheduler_type "cosine" \
    --logging_steps 1 \
    --gradient_checkpointing True \
    --report_to none \
    --lazy_preprocess True \
    --save_strategy "steps" \
    --save_steps 20 \
    --save_total_limit 20 \
    --dataloader_num_workers 4 \
    --save_only_model True
