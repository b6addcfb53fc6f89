"""V-IRL throughput: synthetic city generation time, and V-IRL-L / V-IRL-VL environment steps per second.

    PYTHONPATH=. python bench/virl_throughput.py [--routes 1000] [--workers 2] [--pano-width 1024] [--out DIR]

The environment is stepped with expert answers (every step moves along the rail; resets included) at the
published settings: straight_line_length 5, drop_rate 0.5, relocation on, V-IRL-VL grid of four 640x640
views resized to 1200x1200 each.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from envs.virl.env import NavigationEnv
from envs.virl.synthetic import CitySpec, generate_city


def steps_per_second(city: Path, language_only: bool, steps: int) -> float:
    env = NavigationEnv(
        route_info_path=str(city / "route_infos.json"), language_only=language_only,
        platform_cfg={"OFFLINE": {"PANORAMA_DIR": str(city / "street_views"),
                                  "GPS_TO_PANO_PATH": str(city / "gps_pano_mapping.pkl")}},
    )
    _, info = env.reset(seed=0)
    started = time.perf_counter()
    for _ in range(steps):
        answer = json.dumps({"current observation": info["current_obs"], "action": info["expert_action"]})
        _, _, terminated, truncated, info = env.step(answer)
        if terminated or truncated:
            _, info = env.reset()
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pano-width", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--existing", type=Path, default=None, help="step an existing city folder; skip generation")
    parser.add_argument("--l-steps", type=int, default=5000)
    parser.add_argument("--vl-steps", type=int, default=100)
    args = parser.parse_args()
    out = args.existing or args.out or Path(tempfile.mkdtemp(prefix="virl_bench_")) / "city"
    if args.existing is None:
        started = time.perf_counter()
        summary = generate_city(CitySpec(name="bench-city", num_routes=args.routes, pano_width=args.pano_width), out,
                                workers=args.workers)
        seconds = time.perf_counter() - started
        print(f"city: {summary.num_routes} routes, {summary.num_panoramas} panoramas "
              f"({args.pano_width}x{args.pano_width // 2}), {args.workers} worker(s): {seconds:.1f} s")
    print(f"V-IRL-L:  {steps_per_second(out, True, args.l_steps):.0f} steps/s")
    print(f"V-IRL-VL: {steps_per_second(out, False, args.vl_steps):.1f} steps/s (2405x2405 grid)")


if __name__ == "__main__":
    main()
