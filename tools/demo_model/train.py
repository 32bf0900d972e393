"""Trains the demo MiniCPM3 on generated word problems (weighted next-token cross-entropy, AdamW, cosine).

Checkpoints (model, optimizer, step) go to OUT_DIR/last.pt every --save-every steps; rerunning the same
command resumes from there and, since batch i depends only on (seed, i), continues the same run.
--init-from starts a new stage from another run's weights. make_demo.sh has the shipped model's stages.

Usage: /usr/bin/python3 train.py --model-dir ../../models/demo --out-dir /tmp/demo_run [--style first|final|final-weak]
"""
import argparse
import json
import math
import os
import shutil
import time

import torch
import torch.nn.functional as F

from data import STYLES, SequenceSource, held_out_questions
from demo_config import demo_config
from hf_tokenizer import HFTokenizer
from minicpm3 import Config, MiniCPM3


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True, help="folder with tokenizer.json and eval/test.jsonl")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--steps", type=int, default=1100)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--stop-at", type=int, default=0,
                        help="stop after this step (0: after --steps); the schedule still spans --steps")
    parser.add_argument("--keep-every", type=int, default=0,
                        help="also keep a copy of the checkpoint as step_N.pt every N steps (0: never)")
    parser.add_argument("--style", choices=sorted(STYLES), default="final", help="problems.py Style of the data")
    parser.add_argument("--init-from", help="start from this checkpoint's weights (new optimizer and schedule)")
    parser.add_argument("--context-weight", type=float, default=0.25,
                        help="loss weight of non-answer tokens (answers weigh 1)")
    parser.add_argument("--number-weight", type=float, default=1.0, help="loss weight of the answers' digits")
    return parser.parse_args()


def learning_rate(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))  # cosine down to 10%


def init_weights(model, std):
    for name, param in model.named_parameters():
        if param.dim() == 1:
            torch.nn.init.ones_(param)  # RMSNorm scales
        else:
            torch.nn.init.normal_(param, 0.0, std)


def make_optimizer(model, args):
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed_tokens" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.dim() != 2 or "embed_tokens" in n]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=args.lr, betas=(0.9, 0.95), eps=1e-8, foreach=True)


def main():
    args = parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    tokenizer = HFTokenizer(os.path.join(args.model_dir, "tokenizer.json"))
    config_dict = demo_config(len(tokenizer.id_to_token), tokenizer.added["<|im_end|>"])
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(config_dict, f, indent=2)
    model = MiniCPM3(Config.from_dict(config_dict), context_length=args.seq_len).float()
    init_weights(model, config_dict["initializer_range"])
    optimizer = make_optimizer(model, args)
    source = SequenceSource(tokenizer, args.seq_len, args.seed, held_out_questions(args.style), args.context_weight,
                            STYLES[args.style], args.number_weight)

    checkpoint_path = os.path.join(args.out_dir, "last.pt")
    step = 0
    if os.path.exists(checkpoint_path):
        state = torch.load(checkpoint_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        print(f"resumed at step {step}", flush=True)
    elif args.init_from:
        model.load_state_dict(torch.load(args.init_from)["model"])
        print(f"starting from the weights of {args.init_from}", flush=True)

    started, smoothed = time.time(), None
    last_step = min(args.steps, args.stop_at) if args.stop_at else args.steps
    while step < last_step:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args)
        ids, token_weights = source.batch(step, args.batch_size)
        batch, weights = torch.tensor(ids), torch.tensor(token_weights, dtype=torch.float32)[:, 1:]
        logits = model(batch[:, :-1])
        losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="none")
        loss = (losses * weights.reshape(-1)).sum() / weights.sum()  # weighted next-token CE
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        smoothed = loss.item() if smoothed is None else 0.95 * smoothed + 0.05 * loss.item()
        if step % 10 == 0:
            print(f"step {step} loss {loss.item():.4f} smoothed {smoothed:.4f} lr {learning_rate(step - 1, args):.2e} "
                  f"elapsed {time.time() - started:.0f}s", flush=True)
        if step % args.save_every == 0 or step == last_step:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                        "loss": smoothed}, checkpoint_path + ".tmp")
            os.replace(checkpoint_path + ".tmp", checkpoint_path)
            if args.keep_every and step % args.keep_every == 0:
                shutil.copyfile(checkpoint_path, os.path.join(args.out_dir, f"step_{step}.pt"))
    print(f"done: {step} steps, smoothed loss {smoothed}, {time.time() - started:.0f}s this run", flush=True)


if __name__ == "__main__":
    main()
