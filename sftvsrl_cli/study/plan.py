"""The study as a list of stages, each literally one `sftvsrl ...` command (what `--plan` prints is what runs).

Per replicate seed S, under `OUT/seed-S/`:

    data/            gen-data: ID-rule expert records (the training task distribution of both arms)
    init/            sft from the base model: the Init checkpoint (init/final)
    evals/init/      eval of the Init on every split
    sft/             sft from init/final on the same data: the SFT arm, checkpoint-<step>/ along it
    evals/sft-<step>/
    rl/              ppo from init/final: the RL arm, checkpoints/update_<N>/policy along it
    evals/rl-<N>/
    rl-viter<V>/     with --verify-iters: one more RL arm per verification-iteration count V (Fig 10)
    evals/rl-viter<V>-<N>/

Every stage command starts afresh or continues what its folder holds (sft `--resume auto`, ppo `--resume`,
eval resumes by itself), so re-running a stage after a kill resumes it.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftvsrl_cli.study.config import StudyConfig

PROGRAM = "sftvsrl"

# How each command is told its output folder and to continue what a killed stage left (evaluations continue
# by themselves).
OUT_OPTION = {"gen-data": "--out", "sft": "--out", "ppo": "--out", "eval": "--out"}
RESUME_ARGS = {"gen-data": (), "sft": ("--resume", "auto"), "ppo": ("--resume", "auto"), "eval": ()}

# Rough seconds per unit on the quiet 2-core development CPU (the default study, docs/study.md), for the ETA
# only, which rescales them by what this machine takes once a stage of the kind has run: an SFT step of batch
# 32, a PPO update of ppo/tiny_gp_l, one evaluation episode, one gen-data record.
UNIT_SECONDS = {"gen-data": 0.0003, "sft": 0.6, "ppo": 9.0, "eval": 0.07}


@dataclass(frozen=True)
class Stage:
    name: str
    """Unique within the study, e.g. `seed-0/rl` or `seed-0/evals/sft-100`."""
    kind: str
    """gen-data, sft, ppo or eval: the sftvsrl command."""
    argv: tuple[str, ...]
    """The command's arguments after `sftvsrl`."""
    out: str
    seed: int
    arm: str
    """init, sft, rl or ablation: the job a cluster user runs it in (data and Init evaluation belong to init;
    the verification-iterations RL arms to ablation)."""
    units: float
    """Steps, updates, episodes or records, for the ETA."""
    point: dict[str, Any] = field(default_factory=dict)
    """eval stages: the evaluated checkpoint ({"arm", "step", "model"})."""
    expect: dict[str, Any] = field(default_factory=dict)
    """What a finished output holds (steps, updates, splits and episodes), checked by the runner."""

    @property
    def command(self) -> str:
        return shlex.join((PROGRAM, self.kind, *self.argv))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "argv": [PROGRAM, self.kind, *self.argv],
                "command": self.command, "out": self.out, "seed": self.seed, "arm": self.arm, "point": self.point,
                "expect": self.expect}


def checkpoint_steps(total: int, count: int) -> list[int]:
    """Steps at which a run of `total` steps saving every ceil(total / count) steps has a checkpoint."""
    every = save_every(total, count)
    return sorted({*range(every, total, every), total})


def save_every(total: int, count: int) -> int:
    return max(1, math.ceil(total / count))


def yaml_scalar(value: Any) -> str:
    """A value as the `--KEY=VALUE` overrides read it (YAML); lists and mappings in JSON, a YAML subset."""
    if isinstance(value, (bool, list, dict)) or value is None:
        return json.dumps(value)
    return str(value)


def env_overrides(config: StudyConfig) -> list[str]:
    """`--env_config.KEY=VALUE` for the user's keys, then the ID split's rule keys (the training distribution)."""
    from evaluators.splits import get_split

    keys = {**config.env_config, **get_split(config.task, "id").rule_keys}
    return [f"--env_config.{key}={yaml_scalar(value)}" for key, value in keys.items()]


def split_names(config: StudyConfig) -> list[str]:
    from evaluators.splits import split_names as names

    return names(config.task)


def build_plan(config: StudyConfig, out: str | Path) -> list[Stage]:
    """Every stage of every replicate, in the order they run."""
    stages: list[Stage] = []
    for index in range(config.seeds):
        stages += _replicate(config, Path(out), config.seed + index)
    return stages


def _replicate(config: StudyConfig, out: Path, seed: int) -> list[Stage]:
    root = out / f"seed-{seed}"
    data, init, sft, rl = root / "data", root / "init", root / "sft", root / "rl"
    init_model = str(init / "final")
    stages = [_gen_data(config, data, seed, root),
              _sft("init", config, config.model, data, init, config.init_steps, config.init_steps, seed, root)]
    stages.append(_eval(config, root, seed, "init", 0, init_model))
    stages.append(_sft("sft", config, init_model, data, sft, config.sft_steps,
                       save_every(config.sft_steps, config.checkpoints), seed, root))
    for step in checkpoint_steps(config.sft_steps, config.checkpoints):
        stages.append(_eval(config, root, seed, "sft", step, str(sft / f"checkpoint-{step}")))
    stages += _rl_arm(config, init_model, rl, seed, root, "rl", ())
    for verify_iter in config.verify_iters:  # the verification-iterations ablation (Fig 10): RL arms only
        arm = ablation_arm(verify_iter)
        stages += _rl_arm(config, init_model, root / arm, seed, root, arm,
                          (f"--env_config.verify_iter={verify_iter}",))
    return stages


def ablation_arm(verify_iter: int) -> str:
    return f"rl-viter{verify_iter}"


def _rl_arm(config: StudyConfig, init_model: str, out: Path, seed: int, root: Path,
            arm: str, extra: tuple[str, ...]) -> list[Stage]:
    job = "rl" if arm == "rl" else "ablation"
    stages = [_ppo(config, init_model, out, seed, root, job, extra)]
    for update in checkpoint_steps(config.rl_updates, config.checkpoints):
        model = str(out / "checkpoints" / f"update_{update:06d}" / "policy")
        stages.append(_eval(config, root, seed, arm, update, model, job))
    return stages


def _name(root: Path, *parts: str) -> str:
    return "/".join((root.name, *parts))


def _gen_data(config: StudyConfig, data: Path, seed: int, root: Path) -> Stage:
    argv = ["--task", config.task, "--num", str(config.data_records), "--seed", str(seed),
            OUT_OPTION["gen-data"], str(data)]
    argv += ["--routes", str(config.routes)] if config.routes else []  # V-IRL route data
    argv += env_overrides(config)
    return Stage(_name(root, "data"), "gen-data", tuple(argv), str(data), seed, "init", config.data_records,
                 expect={"records": config.data_records})


def _sft(arm: str, config: StudyConfig, model: str, data: Path, out: Path, steps: int, every: int, seed: int,
         root: Path) -> Stage:
    argv = ["--model", model, "--data", str(data), OUT_OPTION["sft"], str(out), "--max-steps", str(steps),
            "--save-every", str(every), "--seed", str(seed), *RESUME_ARGS["sft"]]
    if config.sft_config:
        argv += ["-f", config.sft_config]
    return Stage(_name(root, out.name), "sft", tuple(argv), str(out), seed, arm, steps, expect={"steps": steps})


def _ppo(config: StudyConfig, model: str, out: Path, seed: int, root: Path, job: str,
         extra: tuple[str, ...]) -> Stage:
    argv = ["--task", config.task, "--model", model, OUT_OPTION["ppo"], str(out), "--seed", str(seed),
            *RESUME_ARGS["ppo"]]
    if config.rl_config:
        argv += ["-f", config.rl_config]
    updates = config.rl_updates
    argv += [f"--num_updates={updates}", f"--save_every={save_every(updates, config.checkpoints)}",
             f"--optimizer_config.lr_max_steps={updates}"]
    if config.routes:
        from evaluators.splits import city_env_config

        argv += [f"--env_config.{k}={yaml_scalar(v)}" for k, v in city_env_config(config.routes).items()]
    argv += [*env_overrides(config), *extra]
    return Stage(_name(root, out.name), "ppo", tuple(argv), str(out), seed, job, updates, expect={"updates": updates})


def _eval(config: StudyConfig, root: Path, seed: int, arm: str, step: int, model: str, job: str = "") -> Stage:
    label = "init" if arm == "init" else f"{arm}-{step}"
    out = root / "evals" / label
    splits = split_names(config)
    argv = ["--model", model, "--label", label, "--task", config.task, "--split", ",".join(splits),
            "--num-traj", str(config.eval_episodes), "--seed", str(config.eval_seed),
            "--max-new-tokens", str(config.eval_max_new_tokens), "--batch-size", str(config.eval_batch_size),
            OUT_OPTION["eval"], str(out)]
    if config.eval_verify_iter is not None:
        argv += ["--verify-iter", str(config.eval_verify_iter)]
    if config.routes:
        argv += ["--routes", str(config.routes)]
    if config.visual_ood_routes:
        argv += ["--visual-ood-routes", str(config.visual_ood_routes)]
    argv += [f"--env_config.{k}={yaml_scalar(v)}" for k, v in config.env_config.items()]
    return Stage(_name(root, "evals", label), "eval", tuple(argv), str(out), seed, job or arm,
                 config.eval_episodes * len(splits), point={"arm": arm, "step": step, "model": model},
                 expect={"splits": splits, "episodes": config.eval_episodes})


def select_arms(stages: list[Stage], arms: tuple[str, ...]) -> list[Stage]:
    """The stages of the given arms (all when none is given)."""
    return [stage for stage in stages if not arms or stage.arm in arms]
