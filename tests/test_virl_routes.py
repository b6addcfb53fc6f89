"""Route files in the published format: the milestone string, a hand-written record, and malformed files."""

import json
import os
import pickle

import pytest

from envs.virl.env import NavigationEnv
from envs.virl.pano_index import PanoMappingError, load_pano_mapping
from envs.virl.routes import RouteFileError, load_route_file, parse_milestone_info

# Verbatim from V-IRL's public route_infos_sf_apple.json (virl-data.md section 1.4).
SF_MILESTONES = (
    '\n{\n"intersection_idx": "1",\n"landmarks": "Starbucks is on your left behind",\n"distance": "50 meters",\n'
    '"human_heading": "0",\n"to_next_intersection_heading": "259 (west)",\n}\n\n{\n"intersection_idx": "2",\n'
    '"landmarks": "The destination Apple Union Square is on your right",\n"distance": "93 meters",\n'
    '"human_heading": "259",\n"to_next_intersection_heading": "170 (south)",\n}\n'
)
SF_ROUTE = {
    "start_place": {"name": "The Whisky Shop of San Francisco", "geocode": [37.7896694, -122.4065056],
                    "relocated_geocode": [37.78950378406966, -122.4064316195797], "region": "Union_Square_SF_North_America"},
    "dest_place": {"name": "Apple Union Square", "geocode": [37.7886188, -122.4069797],
                   "relocated_geocode": [37.78860424338562, -122.4068227833895]},
    "route_results": {
        "geocode_list": [[37.78942451809297, -122.4069914863775], [37.78860424338562, -122.4068227833895]],
        "landmark_list": [{"name": "Starbucks", "geocode": [37.789348, -122.406831], "heading": 121.1}],
        "polyline": ["a", "b"], "instructions": ["x", "y"], "distance_list": [50, 93], "time_list": [15, 52],
        "time": 67, "distance": 143, "n_landmarks": 1,
    },
    "init_heading": 0,
    "instruction": "First, turn around and head west (GPT text, unused)",
    "milestone_info": SF_MILESTONES,
}


def write_routes(tmp_path, routes, count=None, name="route_infos.json"):
    path = tmp_path / name
    path.write_text(json.dumps([routes, len(routes) + 5 if count is None else count], indent=4))
    return str(path)


def test_milestone_string_parses_like_the_published_parser():
    blocks = parse_milestone_info(SF_MILESTONES)
    assert [b["landmarks"] for b in blocks] == ["Starbucks is on your left behind",
                                                "The destination Apple Union Square is on your right"]
    assert [b["to_next_intersection_heading"] for b in blocks] == ["259 (west)", "170 (south)"]
    assert blocks[1]["distance"] == "93 meters"


def test_hand_written_published_route_gives_the_documented_rail(tmp_path):
    path = write_routes(tmp_path, [dict(SF_ROUTE, init_heading=100)])
    loaded = load_route_file(path)
    assert loaded.count == 6 and len(loaded.routes) == 1
    env = NavigationEnv(route_info_path=path, relocation=False, drop_rate=0.0, straight_line_length=5)
    _, info = env.reset(seed=0)
    assert info["global_instruction"] == (
        "1. First, turn right to face west.\n"
        "2. Move forward until you reach next intersection where Starbucks is on your left behind.\n"
        "3. Turn left to face south.\n"
        "4. Move forward until you reach destination where The destination Apple Union Square is on your right.\n"
    )
    actions, observations, indices = [], [], []
    while True:
        actions.append(info["expert_action"])
        observations.append(info["current_obs"])
        indices.append(info["instruction_idx"])
        _, reward, terminated, truncated, info = env.step(json.dumps({"action": info["expert_action"]}))
        assert reward == 1.0 and not truncated
        if terminated:
            break
    # The published trace (virl-data.md 4.2) without its duplicated anchor rows 5 and 11.
    assert actions == ["turn_direction(west)"] + ["forward()"] * 4 + ["turn_direction(south)"] + ["forward()"] * 4 + ["stop()"]
    assert observations[5] == "Starbucks is on your left behind; You observe an intersection"
    assert observations[0] == observations[1] == "No landmarks nearby; "
    assert observations[-1] == "The destination Apple Union Square is on your right; "
    assert indices == [1, 2, 2, 2, 2, 3, 4, 4, 4, 4, 4]
    assert info["route_success"] is True


def test_relative_action_space_uses_turn_words(tmp_path):
    path = write_routes(tmp_path, [dict(SF_ROUTE, init_heading=100)])
    env = NavigationEnv(route_info_path=path, relocation=False, drop_rate=1.0, absolute_action=False)
    _, info = env.reset(seed=0)
    assert info["expert_action"] == "turn_direction(right)"  # 100 -> 259 is +159
    _, reward, _, _, info = env.step('{"action": "turn_direction(right)"}')
    assert reward == 1.0 and info["expert_action"] == "turn_direction(left)"  # 259 -> 170 is -89


def test_relocation_snaps_to_the_mapping(tmp_path):
    path = write_routes(tmp_path, [SF_ROUTE])
    start, first, dest = (37.78950378406966, -122.4064316195797), (37.78942451809297, -122.4069914863775), (37.78860424338562, -122.4068227833895)
    mapping = {(start[0] + 1e-5, start[1]): "pano_start", first: "pano_first", dest: "pano_dest"}
    for i in range(1, 10):  # panoramas along both segments
        mapping[(start[0] + (first[0] - start[0]) * i / 10, start[1] + (first[1] - start[1]) * i / 10)] = f"a{i}"
        mapping[(first[0] + (dest[0] - first[0]) * i / 10, first[1] + (dest[1] - first[1]) * i / 10)] = f"b{i}"
    mapping_path = tmp_path / "gps_pano_mapping.pkl"
    mapping_path.write_bytes(pickle.dumps(mapping))
    env = NavigationEnv(route_info_path=path, platform_cfg={"OFFLINE": {"GPS_TO_PANO_PATH": str(mapping_path)}}, drop_rate=0.0)
    _, info = env.reset(seed=0)
    assert info["pano_id"] == "pano_start"
    panos = []
    while True:
        panos.append(info["pano_id"])
        _, _, terminated, _, info = env.step(json.dumps({"action": info["expert_action"]}))
        if terminated:
            break
    assert panos[0] == "pano_start" and "pano_first" in panos and panos[-1] == "pano_dest"
    assert all(p is not None for p in panos)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r.pop("milestone_info"), "route 1: milestone_info is missing"),
        (lambda r: r["route_results"]["geocode_list"].pop(), "milestone_info has 2 blocks but geocode_list has 1"),
        (lambda r: r["start_place"].pop("relocated_geocode"), "route 1: start_place.relocated_geocode is missing"),
        (lambda r: r.update(milestone_info=SF_MILESTONES.replace("259 (west)", "259 (upward)")), "'upward' is not one of"),
        (lambda r: r.update(milestone_info=SF_MILESTONES.replace("259 (west)", "west")), "is not 'DEGREES (direction)'"),
        (lambda r: r["route_results"].update(geocode_list=[[1, "x"], [2, 3]]), "geocode_list[0] must be two numbers"),
    ],
)
def test_malformed_route_names_file_route_and_field(tmp_path, mutate, message):
    bad = json.loads(json.dumps(SF_ROUTE))
    mutate(bad)
    path = write_routes(tmp_path, [SF_ROUTE, bad])
    with pytest.raises(RouteFileError) as error:
        load_route_file(path)
    assert path in str(error.value) and message in str(error.value)


@pytest.mark.parametrize("content, message", [("not json", "not valid JSON"), ('{"a": 1}', "expected a JSON array"),
                                              ("[[], 0]", "holds no routes")])
def test_malformed_route_file(tmp_path, content, message):
    path = tmp_path / "routes.json"
    path.write_text(content)
    with pytest.raises(RouteFileError, match=message):
        load_route_file(path)


def test_missing_route_file_is_a_one_line_error(tmp_path):
    with pytest.raises(RouteFileError, match="route file not found: .*nope.json"):
        NavigationEnv(route_info_path=str(tmp_path / "nope.json"), relocation=False)


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_mapping_pickle_refuses_code(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({(1.0, 2.0): Exploit()}))
    with pytest.raises(PanoMappingError, match="refusing to load"):
        load_pano_mapping(path)


def test_relocation_miss_names_route_and_milestone(tmp_path):
    path = write_routes(tmp_path, [SF_ROUTE])
    mapping_path = tmp_path / "m.pkl"
    mapping_path.write_bytes(pickle.dumps({(37.78950378406966, -122.4064316195797): "only_start"}))
    env = NavigationEnv(route_info_path=path, platform_cfg={"OFFLINE": {"GPS_TO_PANO_PATH": str(mapping_path)}})
    with pytest.raises(ValueError, match=r"route 0: milestone 1 at .* has no panorama within 20 m"):
        env.reset(seed=0)
