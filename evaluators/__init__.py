"""Evaluation of policies on the study's named ID/OOD splits: episodes, metrics, logs, reports.

`splits` defines the splits once; `runner` plays episodes with any `Policy` (oracle, garbage, a local model,
a hosted API); `evaluation` writes the resumable per-step log and the summary; `report` builds the paper's
tables from saved summaries.
"""
