"""The project's V-IRL-L and V-IRL-VL prompt templates, the expert answer, and the verification feedback.

Template variables (usable in a `--prompt-template` file):
- `{instruction}`: the numbered route instruction ("1. First, turn left to face north.\\n2. ...");
- `{action_space}`: the three lines describing the active action space;
- `{obs_act_seq}`: the observation/action history ending with the current observation and "A_n: ";
- `{grid_layout}` (V-IRL-VL): where the four street views look, e.g. "[front, right,\\n back, left]".
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from envs.prompt_templates import feedback_message, fill_template
from envs.virl.actions import action_space_text
from envs.virl.streetview import GRID_DESCRIPTIONS

TEMPLATE_VARIABLES = ("instruction", "action_space", "obs_act_seq", "grid_layout")

_OUTPUT = """[Output]
{
  "current observation": latest observation from the {observation_source},
  "current instruction": analyze the full instruction and identify the sentence to be executed,
  "action": the action to be taken chosen from the action space,
}"""

_CONTEXT = """[Instruction]
{instruction}
[Action space]
{action_space}

[Observations and actions sequence]
{obs_act_seq}
"""

VIRL_L_TEMPLATE = (
    """[Task Description]
You are an expert in navigation. You will receive a sequence of instructions to follow. You are also provided
with your observation and action history in text. Your goal is to first analyze the instruction and identify
the next sentence to be executed. Then, you need to provide the action to be taken based on the current
observation and instruction.

"""
    + _CONTEXT
    + _OUTPUT.replace("{observation_source}", "observation sequence")
)

VIRL_VL_TEMPLATE = (
    """[Task Description]
You are an expert in navigation. You will receive a sequence of instructions to follow while observing your
surroundings through street views. You are also provided with your observation and action history in text.
Your goal is to first analyze the instruction and identify the next sentence to be executed. Then, you need
to provide the action to be taken based on the current observation and instruction.

"""
    + _CONTEXT
    + """
[Observation format]
The image is a 2x2 grid of street views taken where you stand, looking towards
{grid_layout}
relative to the direction you are facing. Check whether a landmark named in the instruction is visible
and where it is.

"""
    + _OUTPUT.replace("{observation_source}", "street views")
)


def default_template(language_only: bool) -> str:
    return VIRL_L_TEMPLATE if language_only else VIRL_VL_TEMPLATE


def prompt_values(info: Mapping[str, Any], absolute_action: bool, view_layout: str = "published") -> dict[str, str]:
    return {
        "instruction": info["global_instruction"],
        "action_space": action_space_text(absolute_action),
        "obs_act_seq": info["obs_act_seq"],
        "grid_layout": GRID_DESCRIPTIONS[view_layout],
    }


def build_prompt(template: str, info: Mapping[str, Any], absolute_action: bool, view_layout: str = "published") -> str:
    return fill_template(template, prompt_values(info, absolute_action, view_layout))


def expert_answer(info: Mapping[str, Any]) -> str:
    """The optimal single-turn answer at the current rail point (valid JSON)."""
    return json.dumps(
        {
            "current observation": info["current_obs"],
            "current instruction": info["current_instruction"],
            "action": info["expert_action"],
        },
        ensure_ascii=False,
        indent=2,
    )


class VirlPrompter:
    """`Prompter` for V-IRL: a fresh prompt per rail point (with the grid image in V-IRL-VL) and feedback turns."""

    def __init__(self, absolute_action: bool, language_only: bool, template: str | None = None,
                 view_layout: str = "published"):
        self.absolute_action = absolute_action
        self.language_only = language_only
        self.view_layout = view_layout
        self.template = template or default_template(language_only)

    def prompt(self, observation, info):
        from envs.conversation import Turn

        text = build_prompt(self.template, info, self.absolute_action, self.view_layout)
        return Turn("user", text, None if self.language_only else observation)

    def feedback(self, info):
        from envs.conversation import Turn

        return Turn("user", feedback_message(info["Verify Info"]))


def prompter_for(kwargs: Any, template: str | None = None) -> VirlPrompter:
    """The prompter of a V-IRL env_config (its typed keyword arguments)."""
    return VirlPrompter(kwargs.absolute_action, kwargs.language_only, template, kwargs.view_layout)
