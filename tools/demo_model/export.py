"""Writes the shipped model folder's weights and configs from a train.py checkpoint.

Usage: /usr/bin/python3 export.py --checkpoint /tmp/demo_run/last.pt --model-dir ../../models/demo [--dtype F32|BF16]
"""
import argparse
import json
import os

import torch

from minicpm3 import Config, MiniCPM3
from safetensors_io import write_safetensors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--dtype", default="F32", choices=["F32", "BF16"])
    args = parser.parse_args()
    with open(os.path.join(os.path.dirname(args.checkpoint), "config.json")) as f:
        config = json.load(f)
    config["torch_dtype"] = "float32" if args.dtype == "F32" else "bfloat16"
    model = MiniCPM3(Config.from_dict(config))
    model.load_state_dict(torch.load(args.checkpoint)["model"])
    # state_dict order: embedding, layers in order, final norm (the order HF checkpoints use)
    write_safetensors(os.path.join(args.model_dir, "model.safetensors"), model.state_dict(), args.dtype)
    with open(os.path.join(args.model_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    generation = {"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"],
                  "do_sample": False, "max_new_tokens": 512}
    with open(os.path.join(args.model_dir, "generation_config.json"), "w") as f:
        json.dump(generation, f, indent=2)
        f.write("\n")
    print(f"wrote {args.model_dir} ({args.dtype})")


if __name__ == "__main__":
    main()
