#!/usr/bin/env python3
"""LoRA SFT with PyTorch and PEFT, for GPU machines: the same input and output as
`hypatia train sft`.

Input: JSON Lines with `messages` (what `hypatia data gen` writes); the loss is on the last
message, the assistant's reply, only — the prompt is rendered with the model's chat template
and `add_generation_prompt=True`, exactly as Hypatia's CPU trainer does.
Output: a PEFT directory (adapter_model.safetensors, adapter_config.json); convert it for
the embedded engine with

    hypatia adapter from-peft --in OUT --out adapter.gguf --arch qwen2

Usage (on a machine with torch, transformers, peft and gguf; see requirements.txt):

    python3 crates/train/python/sft_peft.py --gguf ~/.cache/hypatia/models/qwen2.5-coder-0.5b.gguf \
        --data runs/gen/train.jsonl --out runs/sft-peft --rank 16 --alpha 32 --epochs 2

`--gguf` trains on the very weights the engine runs (dequantised from the GGUF file, as the
CPU trainer does) and needs no model hub: GPU machines often reach none. `--model` takes a
Hugging Face id or directory instead. `--eval-data` scores examples (the same mean loss per
reply token as `hypatia train score`) before and after training, into train_report.json.
"""

import argparse
import json
import math
import os
import random
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def read_examples(path):
    examples = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            messages = json.loads(line)["messages"]
            if not messages or messages[-1]["role"] != "assistant":
                raise SystemExit(f"{path} line {n}: the last message must be the assistant's")
            examples.append(messages)
    if not examples:
        raise SystemExit(f"{path} holds no examples")
    return examples


def tokenize(tokenizer, messages, max_tokens):
    """Token ids and labels: -100 (ignored) on the prompt, the ids on the reply."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    if not full.startswith(prompt):
        raise SystemExit("the chat template renders the reply somewhere other than after the prompt")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"][:max_tokens]
    labels = [-100] * min(len(prompt_ids), len(ids)) + ids[len(prompt_ids):]
    return ids, labels


def score(model, examples, device):
    """Mean loss per reply token of each example (None where no reply token is left)."""
    losses = []
    model.eval()
    with torch.no_grad():
        for ids, labels in examples:
            if all(l == -100 for l in labels[1:]):
                losses.append(None)
                continue
            inputs = torch.tensor([ids], device=device)
            target = torch.tensor([labels], device=device)
            losses.append(model(input_ids=inputs, labels=target).loss.item())
    model.train()
    return losses


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base = p.add_mutually_exclusive_group(required=True)
    base.add_argument("--model", help="Hugging Face id or local directory of the base model")
    base.add_argument("--gguf", help="the base model's GGUF file (Hypatia's models)")
    p.add_argument("--data", required=True)
    p.add_argument("--eval-data", help="examples to score before and after training")
    p.add_argument("--out", required=True)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32.0)
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=4, help="examples per optimizer step")
    p.add_argument("--max-tokens", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if args.gguf:
        where = {"pretrained_model_name_or_path": os.path.dirname(os.path.abspath(args.gguf)),
                 "gguf_file": os.path.basename(args.gguf)}
    else:
        where = {"pretrained_model_name_or_path": args.model}
    tokenizer = AutoTokenizer.from_pretrained(**where)
    model = AutoModelForCausalLM.from_pretrained(**where, dtype=dtype).to(device)
    config = LoraConfig(
        r=args.rank,
        lora_alpha=args.alpha,
        lora_dropout=0.0,
        target_modules=[t.strip() for t in args.targets.split(",") if t.strip()],
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    data = [tokenize(tokenizer, m, args.max_tokens) for m in read_examples(args.data)]
    data = [d for d in data if any(l != -100 for l in d[1][1:])]
    held_out = []
    if args.eval_data:
        held_out = [tokenize(tokenizer, m, args.max_tokens) for m in read_examples(args.eval_data)]
    losses_before = score(model, held_out, device)
    optimizer = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=args.lr, weight_decay=0.0)
    steps = []
    started = time.time()
    model.train()
    for epoch in range(args.epochs):
        order = list(range(len(data)))
        random.shuffle(order)
        for start in range(0, len(order), args.batch):
            batch = [data[i] for i in order[start:start + args.batch]]
            optimizer.zero_grad()
            total = 0.0
            for ids, labels in batch:
                inputs = torch.tensor([ids], device=device)
                target = torch.tensor([labels], device=device)
                # Mean over the reply's tokens, then over the batch: as the CPU trainer.
                loss = model(input_ids=inputs, labels=target).loss / len(batch)
                loss.backward()
                total += loss.item()
            optimizer.step()
            steps.append({"epoch": epoch, "step": len(steps) + 1, "loss": total})
            print(json.dumps(steps[-1]), flush=True)
    model.save_pretrained(args.out)
    losses_after = score(model, held_out, device)
    report = {
        "model": args.model or args.gguf,
        "data": args.data,
        "examples": len(data),
        "steps": steps,
        "first_loss": steps[0]["loss"] if steps else None,
        "last_loss": steps[-1]["loss"] if steps else None,
        "seconds": time.time() - started,
        "eval_data": args.eval_data,
        "eval_losses_before": losses_before,
        "eval_losses_after": losses_after,
        "device": f"{device} ({torch.cuda.get_device_name(0) if device == 'cuda' else 'cpu'})",
    }
    with open(f"{args.out}/train_report.json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    if steps and not math.isfinite(steps[-1]["loss"]):
        raise SystemExit("the loss is not finite")


if __name__ == "__main__":
    main()
