"""V-IRL navigation (V-IRL-L text, V-IRL-VL street views) on the published data format, offline only.

Modules: `routes` (route files), `pano_index` (GPS-to-panorama mapping, relocation), `geometry`, `rail` (the
expert rail), `instructions`, `actions`, `observations`, `rewards`, `streetview` (panorama projection and
the 2x2 grid), `prompts` (`VirlPrompter`), `config`, `env`, `sft_data`, and `synthetic` (offline cities).
"""
