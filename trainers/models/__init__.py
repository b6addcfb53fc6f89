"""Models shared by trainers and evaluators: loading, chat encoding and batched generation.

- `load_model(name_or_path, *, dtype=None, device=None, for_training=False) -> LoadedModel`
  (`trainers.models.loader`): any HF causal LM or image-text model, or a built-in tiny model
  (`tiny-llama`, `tiny-mllama`; `trainers.models.builtin`).
- `encode_conversation`, `collate`, `prepare_batch` (`trainers.models.chat`): chat messages plus images to
  model inputs, with assistant-only labels for training.
- `generate_batch(loaded, conversations, images, *, max_new_tokens, temperature, do_sample, top_p=1.0,
  seed=None, batch_size=None) -> list[str]` (`trainers.models.generation`).

Importing this package imports torch and transformers; commands import it inside their bodies.
"""

from trainers.models.builtin import BUILTIN_MODELS, ensure_builtin
from trainers.models.chat import IGNORE_INDEX, collate, encode_conversation, prepare_batch, render_chat
from trainers.models.generation import generate_batch
from trainers.models.loader import LoadedModel, load_model

__all__ = ["BUILTIN_MODELS", "IGNORE_INDEX", "LoadedModel", "collate", "encode_conversation", "ensure_builtin",
           "generate_batch", "load_model", "prepare_batch", "render_chat"]
