"""PPO on multi-turn verifier episodes (the paper's RL): rollouts, GAE, clipped updates, checkpoints.

`trainers.ppo.trainer.train(config)` runs a whole training job; the math lives in `ppo_math`, the critic in
`value_head`, the rollout in `rollout` and `sampling`.
"""
