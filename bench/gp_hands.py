"""Fresh GeneralPoints hands for the bench scripts: the first prompt of each episode, as the environment deals it."""

from __future__ import annotations

from envs.conversation import EpisodeConversation
from envs.general_points.env import GeneralPointEnv
from envs.general_points.prompts import GeneralPointsPrompter


def first_prompts(num: int, seed: int, language_only: bool, color: str = "mixed") -> tuple[list, list, list]:
    """(conversations, images, infos) of `num` fresh in-distribution hands (J/Q/K = 10, target 24)."""
    env = GeneralPointEnv(language_only=language_only, face_cards_color=color)
    conversations, images, infos = [], [], []
    observation, info = env.reset(seed=seed)
    for index in range(num):
        if index:
            observation, info = env.reset()
        conversation = EpisodeConversation(GeneralPointsPrompter(True, 24, language_only))
        conversation.start(observation, info)
        conversations.append(conversation.as_messages())
        images.append(conversation.images)
        infos.append(info)
    return conversations, images, infos
