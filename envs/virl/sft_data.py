"""V-IRL SFT data: the optimal single-turn (prompt, expert answer) pair at every rail point of the routes.

Routes are walked in file order (cycling with fresh headings and drops when more records than rail points
are asked for), so a route file, synthetic or published, is covered evenly. V-IRL-VL records carry the
street-view grid of their rail point, saved as JPEG next to the data file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image

from envs.sft_records import SFTRecord
from envs.virl.config import VirlConfig
from envs.virl.env import NavigationEnv
from envs.virl.prompts import build_prompt, default_template, expert_answer

JPEG_QUALITY = 90


@dataclass
class VirlDataSpec:
    num: int
    seed: int
    env: VirlConfig
    template: str | None = None


def generate_records(
    spec: VirlDataSpec, image_dir: Path | None, on_record: Callable[[], None] = lambda: None
) -> list[SFTRecord]:
    config = spec.env
    kwargs = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    env = NavigationEnv(**kwargs)
    template = spec.template or default_template(config.language_only)
    records: list[SFTRecord] = []
    episode = 0
    while len(records) < spec.num:
        route_idx = episode % len(env.routes)
        observation, info = env.reset(seed=spec.seed if episode == 0 else None, options={"route_idx": route_idx})
        episode += 1
        while len(records) < spec.num:
            record_id = f"virl_{len(records):06d}"
            image = None
            if not config.language_only:
                assert image_dir is not None
                image_dir.mkdir(parents=True, exist_ok=True)
                Image.fromarray(observation).save(image_dir / f"{record_id}.jpg", quality=JPEG_QUALITY)
                image = f"{image_dir.name}/{record_id}.jpg"
            prompt = build_prompt(template, info, config.absolute_action, config.view_layout)
            answer = expert_answer(info)
            records.append(SFTRecord(record_id, image=image).add("user", prompt).add("assistant", answer))
            on_record()
            observation, _, terminated, truncated, info = env.step(answer)
            if terminated or truncated:
                break
    return records
