"""Supervised fine-tuning (`sftvsrl sft`): data checks, the training loop, checkpoints and DeepSpeed configs.

Entry point: `trainers.sft.train.train_sft` (see its module docstring).
"""
