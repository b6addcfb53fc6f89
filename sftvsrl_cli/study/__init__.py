"""`sftvsrl study`: the paper's experiment (Init, an SFT arm and an RL arm at equal compute) as one resumable run.

config.py resolves the study's settings; plan.py turns them into stages, each one `sftvsrl ...` command;
runner.py runs and resumes them; compute.py places checkpoints on the paper's compute axis and matches the
arms; results.py and figures.py write study.json, report.md and the PNG figures.
"""
