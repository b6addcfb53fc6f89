"""Give the published configs' switches their published meaning once a config is type-checked.

- `prompt_config.use_vision` / `use_language` choose the variant: `env_config.language_only = use_language`,
  as the published trainer and evaluator set it. Both true or both false, or a disagreement with an explicit
  `env_config.language_only`, is an error naming the keys.
- `prompt_config.prompt_language` / `prompt_vision` must name a published prompt of the config's environment
  and variant (`published_keys.KNOWN_PROMPTS`).
- `generation_config.max_tokens` ('not used' by local models) moves to `request_max_tokens` (eval-api's
  request limit), so the answer length of local models is `max_new_tokens`, as published.
- `output_dir` written as a published log file (`logs/x/run.jsonl`) names its folder (`logs/x`).
- `API_KEY` moves out of the dataclass (never written with the config) and is registered as a secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainers.config.errors import ConfigError
from trainers.config.published_keys import KNOWN_PROMPTS

LOG_FILE_SUFFIXES = (".jsonl", ".json")


def resolve_published_keys(config: Any) -> None:
    _resolve_variant(config)
    _check_prompts(config)
    generation = config.generation_config
    if generation.max_tokens is not None:
        generation._request_max_tokens = generation.max_tokens
        generation.max_tokens = None
    if Path(config.output_dir).suffix in LOG_FILE_SUFFIXES:
        config.output_dir = str(Path(config.output_dir).parent)
    if config.API_KEY:
        from envs import secrets

        secrets.register(config.API_KEY)
        config._api_key, config.API_KEY = config.API_KEY, ""


def _flag(name: str, value: bool) -> str:
    return f"'prompt_config.{name}: {str(value).lower()}'"


def _resolve_variant(config: Any) -> None:
    prompt = config.prompt_config
    use_language, use_vision = prompt.use_language, prompt.use_vision
    if use_language is not None and use_vision is not None and use_language == use_vision:
        raise ConfigError(f"{_flag('use_vision', use_vision)} and {_flag('use_language', use_language)} select no "
                          "single variant; set one true and the other false")
    from_prompt = use_language if use_language is not None else (None if use_vision is None else not use_vision)
    said = " and ".join(_flag(n, v) for n, v in (("use_vision", use_vision), ("use_language", use_language))
                        if v is not None)
    for name in ("env_config", "eval_env_config"):
        env = getattr(config, name)
        if env is None:
            continue
        if "language_only" in env:
            if from_prompt is not None and bool(env["language_only"]) != from_prompt:
                variant = "text" if from_prompt else "vision"
                raise ConfigError(f"{said} (the {variant} variant) conflicts with "
                                  f"'{name}.language_only: {str(env['language_only']).lower()}'; remove one of them")
        elif from_prompt is not None:
            env["language_only"] = from_prompt
    prompt.use_language = config.language_only
    prompt.use_vision = not config.language_only


def _check_prompts(config: Any) -> None:
    prompt = config.prompt_config
    known = ", ".join(KNOWN_PROMPTS)
    env_id = config.env_config.get("id")
    for key in ("prompt_language", "prompt_vision"):
        names = getattr(prompt, key)
        if names is None:
            continue
        for name in names:
            if name not in KNOWN_PROMPTS:
                raise ConfigError(f"'prompt_config.{key}' names an unknown prompt {name!r}; known prompts: {known}")
        if len(names) != 1:
            raise ConfigError(f"'prompt_config.{key}' must name one prompt, got {len(names)} (the published "
                              "multi-prompt chain is not supported)")
        text_key = key == "prompt_language"
        if text_key != config.language_only:
            continue  # the other variant's prompt: unused by this run
        prompt_env, prompt_text = KNOWN_PROMPTS[names[0]]
        if prompt_env != env_id or prompt_text != text_key:
            raise ConfigError(f"'prompt_config.{key}' names {names[0]!r}, a prompt of {prompt_env} "
                              f"({'text' if prompt_text else 'vision'}), but the config runs {env_id} "
                              f"({'text' if config.language_only else 'vision'})")
