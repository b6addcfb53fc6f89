"""The configuration schema, under the published configs' key names, shared by every command.

A published RL or evaluation YAML loads into `ExperimentConfig` unchanged. `env_config` (and
`eval_env_config`) are checked against the keyword arguments of the environment their `id` names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from trainers.config.coerce import to_dataclass
from trainers.config.errors import ConfigError, suggestion

from envs.registry import DEFAULT_ENV_ID


@dataclass
class PromptConfig:
    use_vision: bool | None = None
    """Published switch to the vision variant (GP-VL, V-IRL-VL); with use_language it sets
    env_config.language_only (None: from env_config, text by default). Resolved to a bool by validate()."""
    use_language: bool | None = None
    """Published switch to the text variant; env_config.language_only = use_language, as published."""
    enable_verification: bool = True
    prompt_vision: list[str] | None = None
    """Published prompt name of the vision variant (`Q_GeneralPoint_EQN_VL`, `Q_VIRL_VL`, ... see
    trainers/config/published_keys.py); None: the environment's built-in template."""
    pattern_vision: list[str] = field(default_factory=lambda: ["formula"])
    prompt_language: list[str] | None = None
    """Published prompt name of the text variant (`Q_GeneralPoint_EQN_L`, `Q_VIRL_L`, ...)."""
    pattern_language: list[str] = field(default_factory=lambda: ["formula"])
    relocation: bool | None = None
    """Published V-IRL key, read by nothing (env_config.relocation is the switch)."""
    straight_line_length: int | None = None
    """Published V-IRL key, read by nothing (env_config.straight_line_length is the setting)."""
    template_path: str | None = None
    """A prompt template file that replaces the built-in one (see the environment's prompt docs)."""


@dataclass
class GenerationConfig:
    temperature: float = 0.2
    max_new_tokens: int = 512
    max_tokens: int | None = None
    """Published: 'not used' by local models (their answer length is max_new_tokens); the `max_tokens` of the
    API evaluator's requests. validate() moves it to `request_max_tokens` and leaves None here."""
    num_beams: int = 1
    """Published, 'not used'."""
    thought_prob_coef: float = 0.5
    top_p: float = 1.0
    do_sample: bool = True

    @property
    def request_max_tokens(self) -> int | None:
        """The published `max_tokens` (an API request's answer limit), or None when the config set none."""
        return getattr(self, "_request_max_tokens", None)


@dataclass
class PPOConfig:
    clip_param: float = 0.1
    ppo_epoch: int = 4
    mini_batch_size: int = 1
    value_loss_coef: float = 0.5
    entropy_coef: float = 0.01
    use_entropy_bonus: bool = False
    """The published loss has no entropy term although entropy_coef is set; True adds it."""
    max_grad_norm: float = 0.01
    critic_warmup_epochs: int = 0
    """PPO: epochs fitting the fresh value head alone on the first rollout's returns before any policy update
    (0, as published). A random critic gives early attempts of a failing episode the most negative advantages
    and late ones positive advantages, whatever their answers; warming it up removes that bias."""
    value_grad_to_backbone: bool = True
    """PPO: let the value loss train the shared backbone (as published). False stops its gradient at the value
    head's input, so only the policy loss moves the language model."""
    ratio_normalization: str = "none"
    """PPO: 'none' (published) takes the ratio of whole-answer probabilities; 'length' divides the log-ratio
    by the answer's weighted token count (a per-token geometric-mean ratio, as GSPO does), so a long answer's
    ratio does not leave the clip range after a small step."""


@dataclass
class OptimizerConfig:
    init_lr: float = 1e-6
    eps: float = 1e-7
    weight_decay: float = 0.0
    lr_max_steps: int = 100
    end_lr: float = 1e-9
    value_head_lr: float | None = None
    """PPO: learning rate of the freshly initialised value head (None: init_lr, as published)."""


@dataclass
class ComputeReturnKwargs:
    use_gae: bool = True
    gamma: float = 0.9
    gae_lambda: float = 0.95
    use_proper_time_limits: bool = False


@dataclass
class SFTConfig:
    """`sftvsrl sft`. Fields left at None take the model's defaults: the paper's for real models, CPU-friendly
    ones for the built-in tiny models (see trainers/sft/defaults.py)."""

    data: str | None = None
    """gen-data output: a folder with data.json / data.jsonl, or the file itself."""
    image_folder: str | None = None
    """The folder a record's relative image paths start from (the published SFT script's `image_folder`);
    None: the data file's folder."""
    model: str | None = None
    """A built-in name (tiny-llama, tiny-llama-base, tiny-mllama), a local folder or a hub id; defaults to
    model_path."""
    learning_rate: float | None = None
    num_epochs: float | None = None
    max_steps: int | None = None
    """Optimizer steps; overrides num_epochs."""
    per_device_batch_size: int | None = None
    grad_accum_steps: int = 1
    warmup_ratio: float = 0.03
    lr_scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.98
    adam_eps: float = 1e-7
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    loss_on: Literal["all", "final"] = "all"
    """Assistant turns the loss covers: every one, or only the conversation's last (earlier turns of a
    multi-turn record can be wrong attempts that must not be learnt)."""
    dtype: str | None = None
    gradient_checkpointing: bool | None = None
    max_length: int = 4096
    group_by_length: bool = False
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=lambda: ["all-linear"])
    merge_lora: bool = False
    freeze_vision_tower: bool = False
    freeze_projector: bool = False
    freeze_llm: bool = False
    """Train only the vision tower and projector (the published script's `freeze_llm`)."""
    projector_lr: float | None = None
    """Learning rate of the vision-language projector; None: learning_rate."""
    vision_lr: float | None = None
    """Learning rate of the vision tower; None: learning_rate."""
    tf32: bool | None = None
    """TF32 matmuls on Ampere and newer GPUs (None: torch's default); no effect on a CPU."""
    save_only_model: bool = False
    """Checkpoints hold the weights only (no optimizer or RNG state): smaller, but they cannot be resumed."""
    deepspeed: str | None = None
    """zero2, zero3, zero3_offload or a DeepSpeed JSON file; None trains without DeepSpeed."""
    save_every: int | None = None
    save_total_limit: int | None = None
    log_every: int = 10
    report_to: list[Literal["wandb", "tensorboard"]] = field(default_factory=list)
    num_workers: int = 0


@dataclass
class ExperimentConfig:
    """Everything a training or evaluation run reads, keyed as in the published configs."""

    env_config: dict[str, Any] = field(default_factory=lambda: {"id": DEFAULT_ENV_ID})
    eval_env_config: dict[str, Any] | None = None
    prompt_config: PromptConfig = field(default_factory=PromptConfig)
    generation_config: GenerationConfig = field(default_factory=GenerationConfig)
    ppo_config: PPOConfig = field(default_factory=PPOConfig)
    optimizer_config: OptimizerConfig = field(default_factory=OptimizerConfig)
    compute_return_kwargs: ComputeReturnKwargs = field(default_factory=ComputeReturnKwargs)
    num_steps: int = 256
    num_updates: int = 20
    grad_accum_steps: int = 128
    num_envs: int = 1
    num_eval_envs: int = 1
    num_processes: int = 1
    num_traj: int = 234
    output_dir: str = "outputs/run"
    seed: int = 42
    model: str = "llama"
    model_path: str | None = None
    trainer: str | None = None
    evaluator: str | None = None
    report_to: str | None = None
    run_name: str | None = None
    use_wandb: bool = False
    save_ckpt: bool | None = None
    """PPO checkpoints: false (as the published scripts set) keeps only the latest one, which --resume needs;
    true or unset keeps one per `save_every` updates."""
    order: bool = False
    """Evaluation: episode i plays route i of the route file (published V-IRL visual OOD, `--order=True`)."""
    rule: str | None = None
    """Published V-IRL evaluation key ('use_plain_card'), read by nothing."""
    API_KEY: str = field(default="", repr=False)
    """Published API evaluator key; validate() moves it out of the dataclass (see `api_key`), so it is never
    written with the config. Prefer `eval-api --api-key-env NAME`."""
    API_URL: str | None = None
    """Published API evaluator endpoint (`eval-api --base-url`)."""
    save_model: bool = False
    save_every: int = 1
    sft_config: SFTConfig = field(default_factory=SFTConfig)

    def validate(self) -> None:
        from trainers.config.resolve import resolve_published_keys

        self.env_config = validate_env_config(self.env_config, "env_config")
        if self.eval_env_config is not None:
            self.eval_env_config = validate_env_config(self.eval_env_config, "eval_env_config")
        resolve_published_keys(self)

    @classmethod
    def extra_unknown_keys(cls, data: dict[str, Any], section: str) -> list:
        """Unknown keys of env_config / eval_env_config (checked against their environment's arguments)."""
        from envs.registry import ENVIRONMENTS, config_class
        from trainers.config.unknown_keys import UnknownKey, init_fields

        found = []
        for name in ("env_config", "eval_env_config"):
            block = data.get(name)
            if not isinstance(block, dict) or block.get("id", DEFAULT_ENV_ID) not in ENVIRONMENTS:
                continue
            names = tuple(init_fields(config_class(block.get("id", DEFAULT_ENV_ID))))
            found += [UnknownKey(f"{section}{name}.", str(k), names) for k in block if k != "id" and str(k) not in names]
        return found

    @property
    def language_only(self) -> bool:
        """The text variant (GP-L, V-IRL-L) when True, the vision variant when False."""
        return bool(self.env_config.get("language_only", True))

    @property
    def keep_every_checkpoint(self) -> bool:
        """PPO: keep one checkpoint per `save_every` updates (False: only the latest, for --resume)."""
        return self.save_ckpt is not False

    @property
    def api_key(self) -> str | None:
        """The API key a config or `--API_KEY=` override gave (registered as a secret), or None."""
        return getattr(self, "_api_key", None) or None


def validate_env_config(env_config: dict[str, Any], path: str) -> dict[str, Any]:
    """Check `id` and every keyword argument of an env_config block; return it with typed values.

    A V-IRL `route_info_path` may be a published data name (`virl-nyc-1k`, `virl-vln-mini`): it resolves to
    the downloaded files, filling in the GPS-to-panorama map and street-view folder when they are unset.
    """
    from envs.registry import ENVIRONMENTS, config_class
    from trainers.hub import apply_virl_data_names

    env_id = env_config.get("id", DEFAULT_ENV_ID)
    if env_id not in ENVIRONMENTS:
        raise ConfigError(f"unknown environment '{path}.id': {env_id!r}{suggestion(str(env_id), ENVIRONMENTS)}")
    env_config = apply_virl_data_names(env_config)
    kwargs = {k: v for k, v in env_config.items() if k != "id"}
    typed = to_dataclass(config_class(env_id), kwargs, f"{path}.")
    explicit = {f.name: getattr(typed, f.name) for f in dataclasses.fields(typed) if f.name in kwargs}
    return {"id": env_id, **explicit}
