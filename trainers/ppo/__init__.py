"""PPO on multi-turn verifier episodes (the paper's RL): rollouts, GAE, clipped updates, checkpoints.

`trainers.ppo.trainer.train(config)` runs a whole training job, one screen per update; `setup` builds or
restores the run's state. The math lives in `ppo_math`, the critic and the packed forward in `value_head`, the
rollout in `rollout` and `sampling`, the buffer in `storage`, the per-stage settings in `settings`, and
checkpoints (read as data only, `safe_files`) in `checkpoint`.
"""
