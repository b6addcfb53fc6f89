"""The V-IRL half of `sftvsrl gen-data`: synthetic cities (`--city`) and SFT data from any route file."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from envs.virl.spec import SPEC as VIRL
from sftvsrl_cli.commands._gen_data_output import write_and_report
from sftvsrl_cli.console import Output

def generate_city_command(output: Output, out_dir: Path, name: str, num_routes: int, style: str, pano_width: int,
                          seed: int, workers: int, json_: bool) -> None:
    from envs.virl.synthetic import CitySpec, generate_city

    spec = CitySpec(name=name, num_routes=num_routes, style=style, seed=seed, pano_width=pano_width)
    started = time.perf_counter()
    with output.progress(f"city {name} ({style})", total=None) as bar:
        last = [0]

        def advance(done: int, total: int) -> None:
            bar.advance(done - last[0], total=total)
            last[0] = done

        summary = generate_city(spec, out_dir, advance, workers=workers)
    seconds = round(time.perf_counter() - started, 3)
    result = {"env": "virl", "city": name, "style": style, "seed": seed, "routes": summary.num_routes,
              "panoramas": summary.num_panoramas, "route_info_path": summary.route_info_path,
              "gps_to_pano_path": summary.gps_to_pano_path, "panorama_dir": summary.panorama_dir, "seconds": seconds}
    if json_:
        output.result_json(result)
    else:
        output.table("gen-data virl city", ["routes", "panoramas", "folder", "seconds"],
                     [[summary.num_routes, summary.num_panoramas, str(out_dir), seconds]])
        output.info(f"Use it with: --env_config.route_info_path={summary.route_info_path} "
                    f"--env_config.platform_cfg.OFFLINE.GPS_TO_PANO_PATH={summary.gps_to_pano_path} "
                    f"--env_config.platform_cfg.OFFLINE.PANORAMA_DIR={summary.panorama_dir}")


def city_options(routes: str | None) -> dict[str, Any]:
    """Config options pointing env_config at a city folder in the published layout (or at a route file)."""
    if routes is None:
        return {}
    path = Path(routes)
    if path.is_dir():
        return {
            "env_config.route_info_path": str(path / "route_infos.json"),
            "env_config.platform_cfg.OFFLINE.GPS_TO_PANO_PATH": str(path / "gps_pano_mapping.pkl"),
            "env_config.platform_cfg.OFFLINE.PANORAMA_DIR": str(path / "street_views"),
        }
    return {"env_config.route_info_path": str(path)}


def sft_data_command(output: Output, config, num: int, out_dir: Path, data_format: str, json_: bool) -> None:
    from envs.prompt_templates import load_template
    from envs.registry import env_kwargs
    from envs.virl.prompts import TEMPLATE_VARIABLES
    from envs.virl.sft_data import VirlDataSpec, generate_records

    env_config = env_kwargs(config.env_config)
    template_path = config.prompt_config.template_path
    template = load_template(template_path, TEMPLATE_VARIABLES) if template_path else None
    variant = "l" if env_config.language_only else "vl"
    spec = VirlDataSpec(num=num, seed=config.seed, env=env_config, template=template)
    image_dir = None if env_config.language_only else out_dir / "images"
    meta = {"env": "virl", "variant": variant, "seed": config.seed,
            "env_config": {"id": VIRL.id, **asdict(env_config)}}
    write_and_report(output, f"virl-{variant}", num, lambda advance: generate_records(spec, image_dir, advance),
                     out_dir, data_format, meta, json_)
