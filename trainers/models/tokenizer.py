"""The project-built tokenizer of the built-in tiny models, trained on the tasks' own text.

A byte-level BPE whose pre-tokenizer keeps every digit, every arithmetic symbol `+ - * / ( ) =` and every
standalone card letter (A, J, Q, K) as a piece of its own, and does not split on spaces. So the fixed
template text of a prompt merges into a handful of long tokens while numbers, cards and formulas stay one
symbol per token: a GP-L prompt is a few dozen tokens, not several hundred. Any text still encodes, through
byte fallback.

Special tokens and the chat template (also used by the tiny image-text model's processor):

    <|bos|><|user|>{content}<|eot|><|assistant|>{content}<|eot|>...   (+ <|assistant|> as generation prompt)

where an `{"type": "image"}` content block renders as `<|image|>`.
"""

from __future__ import annotations

from typing import Iterable

BOS, EOS, PAD, IMAGE = "<|bos|>", "<|eot|>", "<|pad|>", "<|image|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
# MllamaProcessor looks this one up; it is never produced.
PYTHON_TAG = "<|python_tag|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, IMAGE, *ROLE_TOKENS, PYTHON_TAG]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for block in message['content'] %}"
    "{% if block['type'] == 'image' %}{{ '<|image|>' }}"
    "{% elif block['type'] == 'text' %}{{ block['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|eot|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

SPLIT_PATTERN = r"\d|[+\-*/()=]|\b[AJQK]\b"


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 2048, min_frequency: int = 8):
    """A `tokenizers.Tokenizer` trained on `corpus` (deterministic for a given corpus)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return tokenizer


def build_task_tokenizer(vocab_size: int = 2048):
    """The built-in models' tokenizer as a transformers fast tokenizer, chat template included."""
    from transformers import PreTrainedTokenizerFast

    from trainers.models.task_corpus import task_corpus

    backend = train_tokenizer(task_corpus(), vocab_size=vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[IMAGE, *ROLE_TOKENS, PYTHON_TAG],
        clean_up_tokenization_spaces=False,
        padding_side="right",
        model_max_length=4096,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
