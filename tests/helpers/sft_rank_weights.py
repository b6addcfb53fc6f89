"""Run by tests under torchrun: train with `sftvsrl sft` options, then write this rank's weight digest."""

import hashlib
import json
import sys
from pathlib import Path

import torch.distributed as dist

from trainers.config.schema import SFTConfig
from trainers.sft.train import train_sft

data, out, deepspeed = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
settings = SFTConfig(max_steps=6, per_device_batch_size=4, log_every=1, save_every=100, deepspeed=deepspeed,
                     learning_rate=3e-3)
result = train_sft(settings, model="tiny-llama", data=data, output_dir=out, seed=0)
digest = hashlib.sha256()
for name, tensor in sorted(result.model.state_dict().items()):
    digest.update(name.encode())
    digest.update(tensor.detach().float().cpu().numpy().tobytes())
rank = dist.get_rank() if dist.is_initialized() else 0
(out / f"weights_rank{rank}.json").write_text(json.dumps({"sha256": digest.hexdigest(), "first_loss": result.first_loss,
                                                           "last_loss": result.last_loss}))
