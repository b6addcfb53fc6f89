"""GeneralPoints as the registry sees it: id, config, prompter, adapter, tasks GP-L / GP-VL and their splits."""

from __future__ import annotations

from envs.spec import SUCCESS, EnvSpec, Split, Task

ENV_ID = "gym_cards/GeneralPoint-oneline-v0"

_ID_RULE = {"treat_face_cards_as_10": True, "ood": False}
_OOD_RULE = {"treat_face_cards_as_10": False, "ood": True}
_OOD_TEXT = "J/Q/K count as 11/12/13, a face card in every hand"

SPEC = EnvSpec(
    id=ENV_ID,
    name="gp",
    description="GeneralPoints: make the target (24) from four cards",
    entry_point="envs.general_points.env:GeneralPointEnv",
    config_path="envs.general_points.config:GeneralPointsConfig",
    prompter_path="envs.general_points.prompts:prompter_for",
    adapter_path="envs.general_points.adapter:adapter_for",
    template_variables_path="envs.general_points.prompts:TEMPLATE_VARIABLES",
    action_fields=("formula",),
    tasks=(
        Task("gp-l", ENV_ID, {"id": ENV_ID, "language_only": True, "verify_iter": 5, "target_points": 24},
             "GeneralPoints, cards as text"),
        Task("gp-vl", ENV_ID, {"id": ENV_ID, "language_only": False, "verify_iter": 5, "target_points": 24},
             "GeneralPoints, cards as an image"),
    ),
    splits=(
        Split("gp-l", "id", _ID_RULE, "J/Q/K count as 10", SUCCESS, 234, 42),
        Split("gp-l", "rule-ood", _OOD_RULE, _OOD_TEXT, SUCCESS, 234, 42),
        Split("gp-vl", "id", {**_ID_RULE, "face_cards_color": "black"}, "black suits, J/Q/K count as 10",
              SUCCESS, 234, 42),
        Split("gp-vl", "rule-ood", {**_OOD_RULE, "face_cards_color": "black"}, f"black suits, {_OOD_TEXT}",
              SUCCESS, 234, 42),
        Split("gp-vl", "visual-ood", {**_ID_RULE, "face_cards_color": "red"}, "red suits, J/Q/K count as 10",
              SUCCESS, 234, 42),
    ),
    builtin_init=True,
)
