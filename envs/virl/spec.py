"""V-IRL navigation as the registry sees it: id, config, prompter, adapter, tasks V-IRL-L / V-IRL-VL, splits."""

from __future__ import annotations

from envs.spec import STEP_ACCURACY, SUCCESS, EnvSpec, Split, Task

ENV_ID = "gym_virl/Navigation-v0"

_ROUTES = ("route_info_path",)

SPEC = EnvSpec(
    id=ENV_ID,
    name="virl",
    description="V-IRL: follow route instructions through a city's street views",
    entry_point="envs.virl.env:NavigationEnv",
    config_path="envs.virl.config:VirlConfig",
    prompter_path="envs.virl.prompts:prompter_for",
    adapter_path="envs.virl.adapter:adapter_for",
    template_variables_path="envs.virl.prompts:TEMPLATE_VARIABLES",
    action_fields=("action",),
    tasks=(
        Task("virl-l", ENV_ID, {"id": ENV_ID, "language_only": True, "verify_iter": 2},
             "V-IRL navigation, observations as text"),
        Task("virl-vl", ENV_ID, {"id": ENV_ID, "language_only": False, "verify_iter": 2},
             "V-IRL navigation, 2x2 street-view grid"),
    ),
    splits=(
        Split("virl-l", "id", {"absolute_action": True}, "absolute actions, training routes", STEP_ACCURACY, 48, 12,
              requires=_ROUTES),
        Split("virl-l", "rule-ood", {"absolute_action": False}, "relative actions, training routes", STEP_ACCURACY,
              48, 12, requires=_ROUTES),
        Split("virl-vl", "id", {"absolute_action": True}, "absolute actions, training routes", STEP_ACCURACY, 48, 12,
              requires=_ROUTES),
        Split("virl-vl", "rule-ood", {"absolute_action": False}, "relative actions, training routes", STEP_ACCURACY,
              48, 12, requires=_ROUTES),
        # The paper's V-OOD numbers are multiples of 1/18: route success on the 18 benchmark routes, in order.
        Split("virl-vl", "visual-ood", {"absolute_action": True}, "other cities' routes in order, absolute actions",
              SUCCESS, 18, 12, ordered=True, requires=_ROUTES, other_data=True),
    ),
)
