"""The published configs' keys that only drove the published code's own machinery, in one table.

Each row names a key the published YAML files or launch scripts set, what it did there and what it does here.
Such keys are accepted so every published file loads unchanged; a value that would have changed the published
run's behaviour, and has no effect here, gets one warning line naming the key (`machinery_warnings`).
docs/compatibility.md quotes `markdown_table()`.

Also here: the published prompt names (`KNOWN_PROMPTS`) and the hints for keys of the published launchers that
are spelled differently in this project (`RENAMED_KEYS`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from envs.registry import GENERAL_POINTS, VIRL

_MISSING = object()


@dataclass(frozen=True)
class PublishedKey:
    key: str
    """Dotted key as the published files write it."""
    published: str
    """What the published code did with it."""
    here: str
    """What this project does with it."""
    changes_behaviour: Callable[[Any, Mapping[str, Any]], bool] | None = None
    """(value, whole config) -> True when the value would have changed the published run and is ignored here."""


def _not_in(*allowed: Any) -> Callable[[Any, Mapping[str, Any]], bool]:
    return lambda value, config: value not in allowed


def _local_model_name(value: Any, config: Mapping[str, Any]) -> bool:
    return config.get("evaluator") != "APIEvaluator" and value not in ("llama", None, "")


MACHINERY_KEYS: tuple[PublishedKey, ...] = (
    PublishedKey("trainer", "class name of the RL trainer ('LlamaTrainer')", "ignored: `sftvsrl ppo` is the trainer",
                 _not_in("LlamaTrainer", None)),
    PublishedKey("evaluator", "class name of the evaluator ('LlamaEvaluator', 'APIEvaluator')",
                 "ignored: the command decides (`eval`/`recog` local, `eval-api` hosted)",
                 _not_in("LlamaEvaluator", "APIEvaluator", None)),
    PublishedKey("model", "model family for local runs ('llama'); the API model name for 'APIEvaluator'",
                 "local runs: ignored (the model is `model_path` / `--model`); `eval-api`: the API model name",
                 _local_model_name),
    PublishedKey("num_processes", "environment processes per GPU (1)",
                 "ignored: environments per rank are `num_envs`; ranks come from the launcher", _not_in(1, None)),
    PublishedKey("generation_config.num_beams", "'not used'", "ignored: decoding is sampling or greedy",
                 _not_in(1, None)),
    PublishedKey("generation_config.max_tokens", "'not used' by local models; the API evaluator's `max_tokens`",
                 "local models: ignored (answer length = `max_new_tokens`); `eval-api`: the request's `max_tokens`"),
    PublishedKey("rule", "V-IRL evaluation configs: 'use_plain_card' ('Option: use_plain_card'), read by nothing",
                 "ignored", _not_in("use_plain_card", None)),
    PublishedKey("prompt_config.relocation", "V-IRL: read by nothing (`env_config.relocation` is the switch)",
                 "ignored"),
    PublishedKey("prompt_config.straight_line_length",
                 "V-IRL: read by nothing (`env_config.straight_line_length` is the setting)", "ignored"),
    PublishedKey("output_dir", "a log file (`*.jsonl`, timestamped) or a folder",
                 "the run folder; a `*.jsonl`/`*.json` path names its parent folder"),
    PublishedKey("env_config.platform_cfg.OFFLINE.ENABLED", "true: street views from disk; false: online APIs",
                 "ignored: always offline", _not_in(True, None)),
    PublishedKey("env_config.platform_cfg.OFFLINE.ENABLE_SAVE_PANO", "cache panoramas fetched online",
                 "ignored: nothing is fetched"),
    PublishedKey("env_config.platform_cfg.MOVER", "settings of the online street-view mover", "ignored"),
    PublishedKey("env_config.platform_cfg.STREET_VIEW.SOURCE", "online street-view source ('outdoor')", "ignored"),
    PublishedKey("env_config.platform_cfg.STREET_VIEW.HEADING", "online API default heading", "ignored"),
    PublishedKey("env_config.platform_cfg.OFFLINE.place_info_path", "'None' in every published config", "ignored"),
    PublishedKey("env_config.platform_save_dir", "cache folder of the online platform", "ignored"),
    PublishedKey("env_config.navigator_cfg", "the legacy V-IRL navigator (GPT-4, CLIP), unused by the active flow",
                 "ignored"),
)
"""Keys accepted for the published files' sake; see docs/compatibility.md."""

KNOWN_PROMPTS: dict[str, tuple[str, bool]] = {
    "Q_GeneralPoint_EQN_L": (GENERAL_POINTS.id, True),
    "Q_GeneralPoint_EQN_L_EG": (GENERAL_POINTS.id, True),
    "Q_GeneralPoint_EQN_VL": (GENERAL_POINTS.id, False),
    "Q_GeneralPoint_EQN_VL_EG": (GENERAL_POINTS.id, False),
    "Q_VIRL_L": (VIRL.id, True),
    "Q_VIRL_L_EG": (VIRL.id, True),
    "Q_VIRL_VL": (VIRL.id, False),
    "Q_VIRL_VL_EG": (VIRL.id, False),
}
"""Published prompt names -> (environment id, text variant). Each selects the built-in template of its
environment and variant (`--prompt-template` replaces it); the `_EG` names, written for hosted models, use the
same template."""

RENAMED_KEYS: dict[str, str] = {
    "save_steps": "sft_config.save_every",
    "save_total_limit": "sft_config.save_total_limit",
    "learning_rate": "sft_config.learning_rate",
    "num_train_epochs": "sft_config.num_epochs",
    "per_device_train_batch_size": "sft_config.per_device_batch_size",
    "gradient_accumulation_steps": "sft_config.grad_accum_steps",
    "warmup_ratio": "sft_config.warmup_ratio",
    "lr_scheduler_type": "sft_config.lr_scheduler",
    "gradient_checkpointing": "sft_config.gradient_checkpointing",
    "lora_enable": "sft_config.lora",
    "freeze_vision_tower": "sft_config.freeze_vision_tower",
    "dataloader_num_workers": "sft_config.num_workers",
    "model_id": "model_path",
    "data_path": "sft_config.data",
    "max_tokens": "generation_config.max_new_tokens",
    "max_new_tokens": "generation_config.max_new_tokens",
    "temperature": "generation_config.temperature",
}
"""Top-level keys of the published launchers (SFT's TrainingArguments flags, misplaced generation keys) ->
this project's key, offered as the hint when such a key is unknown."""


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def machinery_warnings(data: Mapping[str, Any]) -> list[str]:
    """One line per machinery-only key whose value would have changed the published run (ignored here)."""
    lines = []
    for row in MACHINERY_KEYS:
        value = _lookup(data, row.key)
        if value is _MISSING or row.changes_behaviour is None or not row.changes_behaviour(value, data):
            continue
        lines.append(f"config key '{row.key}' = {value!r} has no effect here ({row.here}); in the published code "
                     f"it was: {row.published}")
    return lines


def emit(lines: list[str]) -> None:
    """Print warnings on stderr, one line each (stdout stays for results)."""
    for line in lines:
        print(f"Warning: {line}", file=sys.stderr)


def markdown_table() -> str:
    """The machinery-only keys as the Markdown table docs/compatibility.md quotes."""
    rows = ["| key | published code | here | warns when |", "|---|---|---|---|"]
    for row in MACHINERY_KEYS:
        warns = "set to another value than published" if row.changes_behaviour else "never"
        if row.key == "model":
            warns = "not 'llama' outside 'APIEvaluator' configs"
        rows.append(f"| `{row.key}` | {row.published} | {row.here} | {warns} |")
    return "\n".join(rows)
