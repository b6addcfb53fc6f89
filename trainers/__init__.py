"""Trainers: SFT and PPO post-training of (vision-)language models."""
