"""The scale path on one GPU, in a few minutes: bf16 SFT and PPO steps of a ~1B-parameter Llama built from a
config (random weights, the project's tokenizer, nothing downloaded), each under DeepSpeed ZeRO-2 with and
without optimizer offload on one rank, then batched against one-at-a-time rollout generation on that model.

    bash bench/gpu_check.sh                 # on a machine with one CUDA GPU (under 8 minutes)
    bash bench/gpu_check.sh --cpu-smoke     # a tiny model on the CPU, about a minute: the script itself works

Prints a table (tokens/s, peak GPU memory from torch.cuda.max_memory_allocated, seconds) and writes it to
<out>/gpu_check.json. SFT step: the causal-LM loss on random token batches through the same DeepSpeed engine
`sftvsrl ppo` uses (tokens/s = trained tokens / time, after one warm-up step). PPO step: one update of
`sftvsrl ppo -f ppo/tiny_gp_l` on GP-L (rollout + PPO epoch + checkpoint); tokens/s is the rollout's generated
tokens per second as the run's log reports it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GPU_SHAPE = {"hidden_size": 2048, "num_hidden_layers": 16, "intermediate_size": 8192, "num_attention_heads": 16,
             "num_key_value_heads": 16}  # about 1.07B parameters with the project's small vocabulary
SMOKE_SHAPE = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 128, "num_attention_heads": 4,
               "num_key_value_heads": 4}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def single_rank_environment() -> None:
    """What a launcher would export for one rank, so DeepSpeed starts its process group in this process."""
    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_WORLD_SIZE", "1"),
                       ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", str(_free_port()))):
        os.environ.setdefault(key, value)


def build_model(folder: Path, shape: dict, device: str) -> int:
    """A Llama of `shape` with the project's tokenizer, saved like a downloaded checkpoint; its parameter count."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from trainers.models.tokenizer import build_task_tokenizer

    tokenizer = build_task_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=4096, rms_norm_eps=1e-5,
                         tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16 if device == "cuda" else torch.float32)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    count = sum(p.numel() for p in model.parameters())
    del model
    _free()
    return count


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib() -> float | None:
    return torch.cuda.max_memory_allocated() / 1024**3 if torch.cuda.is_available() else None


def sft_steps(folder: Path, offload: bool, steps: int, batch: int, seq: int, device: str) -> dict:
    """`steps` causal-LM steps on random tokens through the PPO trainer's DeepSpeed engine (ZeRO-2)."""
    from trainers.models.loader import load_model
    from trainers.ppo.engine import DeepSpeedTrainEngine, apply_gradient_checkpointing, deepspeed_config, make_optimizer

    loaded = load_model(str(folder), dtype="bf16" if device == "cuda" else "fp32", device=device, for_training=True)
    model = loaded.model
    apply_gradient_checkpointing(model, None)
    params = sum(p.numel() for p in model.parameters())
    config = deepspeed_config("zero2", 1, 1.0, device == "cuda", offload, 1, params)
    optimizer = make_optimizer([{"params": list(model.parameters())}], lr=1e-5, eps=1e-8, weight_decay=0.0,
                               offload=offload)
    engine = DeepSpeedTrainEngine(model, optimizer, config)
    generator = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    seconds = 0.0
    for step in range(steps + 1):  # step 0 warms up (kernels, allocator, CPU Adam)
        ids = torch.randint(0, vocab, (batch, seq), generator=generator).to(device)
        started = time.perf_counter()
        loss = engine.forward(input_ids=ids, labels=ids).loss
        engine.backward(loss)
        engine.step()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if step:
            seconds += time.perf_counter() - started
    peak = _peak_gib()
    getattr(engine.engine, "destroy", lambda: None)()
    del engine, optimizer, model, loaded
    _free()
    return {"tokens_per_s": steps * batch * seq / seconds, "peak_gib": peak, "seconds": seconds}


def ppo_update(folder: Path, offload: bool, out: Path, envs: int, max_new_tokens: int, seed: int) -> dict:
    """One update of `sftvsrl ppo` (GP-L) on the model under ZeRO-2, run in this process."""
    from click.testing import CliRunner

    from sftvsrl_cli.main import cli
    from trainers.ppo.run_log import read_log

    args = ["ppo", "-f", "ppo/tiny_gp_l", "--model", str(folder), "--deepspeed", "zero2", "--out", str(out),
            "--seed", str(seed), "--num_updates=1", f"--num_envs={envs}", f"--num_steps={2 * envs}",
            f"--ppo_config.mini_batch_size={envs}", "--ppo_config.ppo_epoch=1", "--grad_accum_steps=1",
            f"--generation_config.max_new_tokens={max_new_tokens}", "--env_config.verify_iter=1"]
    if offload:
        args.append("--offload-optimizer")
    started = time.perf_counter()
    result = CliRunner().invoke(cli, args)
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        import traceback

        detail = result.output[-3000:] + "".join(traceback.format_exception(*result.exc_info))[-3000:]
        raise SystemExit(f"sftvsrl ppo failed (exit {result.exit_code}):\n{detail}")
    record = read_log(out / "log.jsonl")[-1]
    peak = _peak_gib()
    _free()
    return {"tokens_per_s": record["tokens_per_second"], "peak_gib": peak, "seconds": seconds,
            "update_seconds": record["update_seconds"]}


def rollout_speed(folder: Path, envs: int, device: str, seed: int) -> list[dict]:
    """Generation of the first prompts of `envs` GP-L episodes: one batched call against one prompt a time."""
    from bench.ppo_rollout_throughput import GP, measure_generation
    from trainers.models.loader import load_model
    from trainers.ppo.value_head import PolicyWithValue

    loaded = load_model(str(folder), dtype="bf16" if device == "cuda" else "fp32", device=device)
    policy = PolicyWithValue(loaded.model)
    rows = [measure_generation(loaded, policy, GP, envs, batched, seed) for batched in (True, False)]
    del policy, loaded
    _free()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="Tiny model on the CPU: checks the script works.")
    parser.add_argument("--out", type=Path, default=None, help="Folder for the model, runs and gpu_check.json.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.cpu_smoke and not torch.cuda.is_available():
        print("no CUDA GPU visible: run on a GPU machine, or pass --cpu-smoke", file=sys.stderr)
        return 2
    device = "cpu" if args.cpu_smoke else "cuda"
    shape = SMOKE_SHAPE if args.cpu_smoke else GPU_SHAPE
    sizes = {"steps": 2, "batch": 2, "seq": 64, "envs": 2, "new": 8} if args.cpu_smoke else \
        {"steps": 3, "batch": 4, "seq": 1024, "envs": 16, "new": 64}
    out = args.out or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    out.mkdir(parents=True, exist_ok=True)
    single_rank_environment()
    if args.cpu_smoke:
        torch.set_num_threads(1)
    started = time.perf_counter()
    params = build_model(out / "model", shape, device)
    print(f"model: Llama {shape['hidden_size']} hidden x {shape['num_hidden_layers']} layers, {params / 1e9:.3f}B "
          f"parameters, {device}", file=sys.stderr, flush=True)
    rows = []
    for offload in (False, True):
        label = "ZeRO-2 + offload" if offload else "ZeRO-2"
        sft = sft_steps(out / "model", offload, sizes["steps"], sizes["batch"], sizes["seq"], device)
        rows.append({"check": f"SFT step, {label}", **sft})
        ppo = ppo_update(out / "model", offload, out / f"ppo_{'offload' if offload else 'plain'}", sizes["envs"],
                         sizes["new"], args.seed)
        rows.append({"check": f"PPO update, {label}", **ppo})
    for row in rollout_speed(out / "model", sizes["envs"], device, args.seed):
        rows.append({"check": f"rollout, {row['mode']}", "tokens_per_s": row["tokens_per_s"], "peak_gib": None,
                     "seconds": row["seconds"]})
    report = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "parameters": params,
              "shape": shape, "sizes": sizes, "rows": rows, "seconds": time.perf_counter() - started}
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"{'check':44s} {'tokens/s':>10s} {'peak GiB':>9s} {'seconds':>8s}")
    for row in rows:
        peak = "-" if row["peak_gib"] is None else f"{row['peak_gib']:.2f}"
        print(f"{row['check']:44s} {row['tokens_per_s']:10.1f} {peak:>9s} {row['seconds']:8.1f}")
    print(f"total {report['seconds']:.0f} s on {report['device']}; figures in {out / 'gpu_check.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
