"""A small synthetic V-IRL city shared by the V-IRL tests (generated once per test process, in a temp dir)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from envs.virl.synthetic import CitySpec, generate_city

ENV_ID = "gym_virl/Navigation-v0"


@functools.lru_cache(maxsize=None)
def small_city(style: str = "metropolis", num_routes: int = 20, pano_width: int = 256) -> Path:
    folder = tempfile.mkdtemp(prefix=f"virl_{style}_")
    atexit.register(shutil.rmtree, folder, True)
    out = Path(folder) / "city"
    generate_city(CitySpec(name=f"test-{style}", num_routes=num_routes, style=style, seed=3, pano_width=pano_width), out)
    return out


def env_config(city: Path, **overrides) -> dict:
    config = {
        "id": ENV_ID,
        "route_info_path": str(city / "route_infos.json"),
        "platform_cfg": {
            "OFFLINE": {"PANORAMA_DIR": str(city / "street_views"), "GPS_TO_PANO_PATH": str(city / "gps_pano_mapping.pkl"),
                        "MAPPING_RADIUS": 20},
            "STREET_VIEW": {"SIZE": [64, 64], "FOV": 90, "PITCH": 0},
        },
    }
    config.update(overrides)
    return config


def expert_json(info: dict) -> str:
    return '{"current observation": "%s", "current instruction": "x", "action": "%s"}' % (info["current_obs"], info["expert_action"])
