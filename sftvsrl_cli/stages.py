"""Long silent steps that commands run before their own progress starts, shown as stages.

Building a built-in tiny model (tiny-mllama: minutes on a CPU) and the PPO's cached SFT initialisation (up
to half an hour) print nothing themselves; wrapped here in `Output.stage`, a terminal shows a spinner and a
log file gets timestamped start, heartbeat and end lines.
"""

from __future__ import annotations

from typing import Any

from sftvsrl_cli.console import Output


def ensure_builtin_model(output: Output, name: Any) -> None:
    """Build built-in model `name` (when it is one and not cached yet) inside a stage; otherwise nothing."""
    from trainers.models.builtin import BUILTIN_MODELS, builtin_path, ensure_builtin

    if str(name) not in BUILTIN_MODELS or (builtin_path(str(name)) / "config.json").is_file():
        return
    with output.stage(f"building {name} (first use; cached in {builtin_path(str(name)).parent})"):
        ensure_builtin(str(name))


def ppo_policy_init(output: Output | None, config: Any) -> tuple[str, float]:
    """`resolve_policy_init`, with the tiny model's build and the SFT initialisation shown as stages (rank 0:
    `output`; other ranks pass None and stay quiet)."""
    from trainers.ppo.init_model import TinyInitRecipe, init_folder, resolve_policy_init, tiny_model_for

    if output is None:
        return resolve_policy_init(config, None)
    if config.options.model:
        ensure_builtin_model(output, config.options.model)
        return resolve_policy_init(config, output)
    try:
        from envs.registry import env_kwargs

        kwargs = env_kwargs(config.experiment.env_config)
        base = tiny_model_for(kwargs.language_only)
        folder = init_folder(base, kwargs, TinyInitRecipe(records=config.options.init_sft_records))
    except Exception:  # noqa: BLE001 - resolve_policy_init reports a bad config in its own words
        return resolve_policy_init(config, output)
    ensure_builtin_model(output, base)
    if (folder / "init.json").is_file():
        return resolve_policy_init(config, output)
    with output.stage(f"SFT-initialising {base} (first use; cached in {folder.parent})"):
        return resolve_policy_init(config, output)
