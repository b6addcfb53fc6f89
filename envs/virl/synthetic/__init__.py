"""Offline synthetic V-IRL cities in the published data layout (route file, GPS-to-panorama pickle, panoramas).

`generate_city(CitySpec(...), out_dir)` builds a street graph, places named landmarks along the streets,
walks routes with 1-5 turns, paints a 360-degree panorama per movable point in one of several visual styles,
and writes `route_infos.json`, `gps_pano_mapping.pkl` and `street_views/`. The same spec gives the same bytes.
"""

from envs.virl.synthetic.styles import STYLES, VisualStyle
from envs.virl.synthetic.writer import CitySpec, CitySummary, generate_city

__all__ = ["STYLES", "VisualStyle", "CitySpec", "CitySummary", "generate_city"]
