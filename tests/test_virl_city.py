"""Synthetic cities: published layout, determinism, styles, and milestones consistent with the geometry."""

import hashlib
import json
import pickle

import numpy as np
import pytest
from PIL import Image

from envs.virl.geometry import compass_word, initial_bearing
from envs.virl.routes import load_route_file
from envs.virl.synthetic import CitySpec, generate_city
from envs.virl.synthetic.writer import MAPPING_FILE, PANORAMA_DIR, ROUTE_FILE

from _virl_city import small_city


def digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_published_layout_and_route_records():
    city = small_city()
    routes = load_route_file(city / ROUTE_FILE)
    assert len(routes.routes) == 20 and routes.count >= 20
    mapping = pickle.loads((city / MAPPING_FILE).read_bytes())
    assert all(isinstance(k, tuple) and len(k) == 2 and isinstance(v, str) and len(v) == 22 for k, v in mapping.items())
    for pano_id in list(mapping.values())[:20]:
        meta = json.loads((city / PANORAMA_DIR / f"{pano_id}.metadata.json").read_text())
        assert 0 <= meta["rotation"] < 360
        with Image.open(city / PANORAMA_DIR / f"{pano_id}.jpg") as image:
            assert image.size == (256, 128)
    record = json.loads((city / ROUTE_FILE).read_text())[0][0]
    assert record["milestone_info"].startswith('\n{\n"intersection_idx": "1",') and record["milestone_info"].endswith("}\n")
    assert record["init_heading"] == 0 and tuple(record["start_place"]["relocated_geocode"]) in mapping
    for route in routes.routes:
        assert 2 <= len(route.milestones) <= 6
        assert all(tuple(g) in mapping for g in route.geocodes)
        assert route.milestones[-1].landmark.startswith(f"The destination {route.destination} is on your ")
        previous = route.start
        for geocode, milestone in zip(route.geocodes, route.milestones):
            assert milestone.heading == int(initial_bearing(previous, geocode))
            assert milestone.direction == compass_word(milestone.heading)
            previous = geocode
    landmarks = [m.landmark for r in routes.routes for m in r.milestones[:-1]]
    assert any(" is on your " in text for text in landmarks) and any(text == "No landmark nearby" for text in landmarks)


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path):
    spec = dict(name="twin", num_routes=3, pano_width=64, style="nordic")
    generate_city(CitySpec(seed=5, **spec), tmp_path / "a")
    generate_city(CitySpec(seed=5, **spec), tmp_path / "b", workers=2)
    generate_city(CitySpec(seed=6, **spec), tmp_path / "c")
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert (tmp_path / "a" / ROUTE_FILE).read_bytes() != (tmp_path / "c" / ROUTE_FILE).read_bytes()


def test_styles_look_different(tmp_path):
    means = {}
    for style in ("metropolis", "mediterranean", "nordic"):
        city = generate_city(CitySpec(name="same-town", num_routes=2, pano_width=128, style=style, seed=1), tmp_path / style)
        mapping = pickle.loads(open(city.gps_to_pano_path, "rb").read())
        pixels = [np.asarray(Image.open(f"{city.panorama_dir}/{p}.jpg"), dtype=np.float32) for p in list(mapping.values())[:10]]
        means[style] = np.mean([p.reshape(-1, 3).mean(axis=0) for p in pixels], axis=0)
    names = list(means)
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(means[names[i]] - means[names[j]]).max() > 8


@pytest.mark.parametrize("rotation", [0.0, 123.4])
def test_landmark_sign_is_painted_in_the_landmarks_direction(rotation):
    """Painting with and without places differs only around the column of the place's compass bearing."""
    import math
    from dataclasses import replace

    from envs.virl.synthetic.painter import build_scene, paint_panorama
    from envs.virl.synthetic.places import place_shops
    from envs.virl.synthetic.streets import build_street_graph
    from envs.virl.synthetic.styles import STYLES

    rng = np.random.default_rng(0)
    style = STYLES["metropolis"]
    graph = build_street_graph(5, rng, style.street_words)
    places = place_shops(graph, rng, len(style.sign_boards))
    place = places[len(places) // 2]
    edge = graph.edges[place.edge]
    axis = (graph.nodes[edge.b] - graph.nodes[edge.a]) / graph.length(edge)
    camera = graph.nodes[edge.a] + axis * place.along  # on the centre line, facing the sign
    alone = [replace(place, index=0)]
    with_sign = paint_panorama(build_scene(graph, alone, style, 0), tuple(camera), rotation, 512).astype(np.int16)
    without = paint_panorama(build_scene(graph, [], style, 0), tuple(camera), rotation, 512).astype(np.int16)
    changed = np.nonzero(np.abs(with_sign - without).sum(axis=(0, 2)) > 0)[0]
    bearing = math.degrees(math.atan2(place.position[0] - camera[0], place.position[1] - camera[1])) % 360
    expected = ((bearing + rotation) % 360) / 360 * 512
    assert len(changed) > 10
    offsets = (changed - expected + 256) % 512 - 256
    assert np.abs(offsets).max() < 60


def test_bad_spec_is_rejected():
    with pytest.raises(ValueError, match="unknown city style"):
        CitySpec(name="x", style="gothic")
    with pytest.raises(ValueError, match="pano_width"):
        CitySpec(name="x", pano_width=102)
