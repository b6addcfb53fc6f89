"""Gymnasium environments of the study: GeneralPoints (GP-L, GP-VL) and V-IRL navigation.

Importing this package registers the published environment ids with gymnasium.
"""

from envs.registry import register_all

register_all()
