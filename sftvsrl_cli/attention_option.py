"""`--attn-implementation`: the attention kernel of every command that loads a model (sft, ppo, eval, recog).

The command runs its work inside `trainers.models.attention.preferred_attention(choice)`, so every model it
loads (the policy, a built-in model's SFT initialisation, ...) uses it; unset means auto.
"""

from __future__ import annotations

import click

ATTN_CHOICES = ("auto", "sdpa", "flash_attention_2", "eager")

attn_option = click.option(
    "--attn-implementation", "attn_implementation", type=click.Choice(ATTN_CHOICES), default=None,
    help="Attention kernel. Default auto: flash_attention_2 where the flash_attn package is installed and the "
         "model runs on CUDA in bf16/fp16, else sdpa where the model supports it, else eager.")
