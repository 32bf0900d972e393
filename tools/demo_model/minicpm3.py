"""MiniCPM3 in PyTorch, written from /work/shared/docs/minicpm3.md (HF tensor names and layout).

Used both to train the demo model (f32) and to compute reference logits (f64).
"""
import json
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from safetensors_io import read_safetensors

LATENT_NORM_EPS = 1e-6  # q_a_layernorm / kv_a_layernorm use the RMSNorm default, not rms_norm_eps


@dataclass
class Config:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    q_lora_rank: int
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    max_position_embeddings: int
    rms_norm_eps: float
    rope_theta: float
    scale_emb: float
    scale_depth: float
    dim_model_base: float
    tie_word_embeddings: bool
    rope_scaling: dict = None
    original_max_position_embeddings: int = None

    @staticmethod
    def from_dict(d):
        return Config(
            vocab_size=d["vocab_size"], hidden_size=d["hidden_size"], num_hidden_layers=d["num_hidden_layers"],
            num_attention_heads=d["num_attention_heads"], intermediate_size=d["intermediate_size"],
            q_lora_rank=d["q_lora_rank"], kv_lora_rank=d["kv_lora_rank"],
            qk_nope_head_dim=d["qk_nope_head_dim"], qk_rope_head_dim=d["qk_rope_head_dim"],
            v_head_dim=d.get("v_head_dim", d["hidden_size"] // d["num_attention_heads"]),
            max_position_embeddings=d["max_position_embeddings"], rms_norm_eps=d["rms_norm_eps"],
            rope_theta=d.get("rope_theta", 10000.0), scale_emb=d["scale_emb"], scale_depth=d["scale_depth"],
            dim_model_base=d["dim_model_base"], tie_word_embeddings=d.get("tie_word_embeddings", True),
            rope_scaling=d.get("rope_scaling"),
            original_max_position_embeddings=d.get("original_max_position_embeddings"))

    @staticmethod
    def load(path):
        with open(path) as f:
            return Config.from_dict(json.load(f))


def rope_tables(config, context_length=None, dtype=torch.float64):
    """cos/sin [positions, p] for rotate-half rotary; LongRoPE factors fixed once from the context length."""
    p = config.qk_rope_head_dim
    m = config.max_position_embeddings
    positions = context_length or m
    ext = torch.ones(p // 2, dtype=torch.float64)
    mscale = 1.0
    scaling = config.rope_scaling
    if scaling and (scaling.get("type") or scaling.get("rope_type")) == "longrope":
        o = scaling.get("original_max_position_embeddings") or config.original_max_position_embeddings
        ext = torch.tensor(scaling["long_factor"] if positions > o else scaling["short_factor"], dtype=torch.float64)
        if "attention_factor" in scaling:
            mscale = scaling["attention_factor"]
        elif m > o:
            mscale = math.sqrt(1 + math.log(m / o) / math.log(o))
    exponents = torch.arange(0, p, 2, dtype=torch.float64) / p
    inv_freq = 1.0 / (ext * config.rope_theta ** exponents)
    angles = torch.outer(torch.arange(positions, dtype=torch.float64), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return (angles.cos() * mscale).to(dtype), (angles.sin() * mscale).to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Attention(nn.Module):
    """Multi-head latent attention in the plain (non-absorbed) form."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        h, n, p, v = c.num_attention_heads, c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim
        self.q_a_proj = nn.Linear(c.hidden_size, c.q_lora_rank, bias=False)
        self.q_a_layernorm = RMSNorm(c.q_lora_rank, LATENT_NORM_EPS)
        self.q_b_proj = nn.Linear(c.q_lora_rank, h * (n + p), bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(c.hidden_size, c.kv_lora_rank + p, bias=False)
        self.kv_a_layernorm = RMSNorm(c.kv_lora_rank, LATENT_NORM_EPS)
        self.kv_b_proj = nn.Linear(c.kv_lora_rank, h * (n + v), bias=False)
        self.o_proj = nn.Linear(h * v, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        """x [b, t, d]; cos/sin for the t new positions; mask [t, s] over all s positions; cache: LayerCache."""
        c = self.c
        b, t, _ = x.shape
        h, n, p, v = c.num_attention_heads, c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x))).view(b, t, h, n + p).transpose(1, 2)
        ckv = self.kv_a_proj_with_mqa(x)
        latent, k_pe = ckv.split([c.kv_lora_rank, p], dim=-1)
        kv = self.kv_b_proj(self.kv_a_layernorm(latent)).view(b, t, h, n + v).transpose(1, 2)
        k_nope, value = kv.split([n, v], dim=-1)
        q_nope, q_pe = q.split([n, p], dim=-1)
        q_pe = q_pe * cos + rotate_half(q_pe) * sin
        k_pe = (k_pe * cos + rotate_half(k_pe) * sin).unsqueeze(1).expand(b, h, t, p)
        query = torch.cat([q_nope, q_pe], dim=-1)  # [nope | rope]
        key = torch.cat([k_nope, k_pe], dim=-1)
        value = value.contiguous()
        if cache is not None:
            key, value = cache.append(key, value)
        s = key.shape[2]
        # bmm then the mask: baddbmm with a broadcast mask falls back to one slow addmm per head on torch 1.13.
        scores = torch.bmm(query.reshape(b * h, t, n + p), key.reshape(b * h, s, n + p).transpose(1, 2))
        scores = scores.view(b, h, t, s).mul_(1.0 / math.sqrt(n + p)).add_(mask).view(b * h, t, s)
        out = torch.bmm(torch.softmax(scores, dim=-1), value.reshape(b * h, s, v)).view(b, h, t, v)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, h * v))


class LayerCache:
    """Keys and values of the positions seen so far, for incremental decoding."""

    def __init__(self):
        self.key = self.value = None

    def append(self, key, value):
        if self.key is not None:
            key, value = torch.cat([self.key, key], dim=2), torch.cat([self.value, value], dim=2)
        self.key, self.value = key, value
        return key, value

    def copy(self):
        other = LayerCache()
        other.key, other.value = self.key, self.value  # append() never mutates, so sharing is safe
        return other

    def length(self):
        return 0 if self.key is None else self.key.shape[2]


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)
        self.residual_scale = c.scale_depth / math.sqrt(c.num_hidden_layers)

    def forward(self, x, cos, sin, mask, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache) * self.residual_scale
        return x + self.mlp(self.post_attention_layernorm(x)) * self.residual_scale


class Backbone(nn.Module):
    """Named `model` inside MiniCPM3 so parameter names match the HF checkpoint."""

    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c.num_hidden_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)


class MiniCPM3(nn.Module):
    def __init__(self, config, context_length=None):
        super().__init__()
        self.config = config
        self.model = Backbone(config)
        if not config.tie_word_embeddings:
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        cos, sin = rope_tables(config, context_length)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def output_weight(self):
        return self.model.embed_tokens.weight if self.config.tie_word_embeddings else self.lm_head.weight

    def hidden_states(self, ids, caches=None):
        """ids [b, t] at positions start..start+t-1 (start = cached length) -> final hidden states / (d / dim_model_base).

        caches: None (no cache, start 0) or one LayerCache per layer, extended in place.
        """
        c = self.config
        t = ids.shape[1]
        start = caches[0].length() if caches else 0
        dtype = self.model.embed_tokens.weight.dtype
        x = self.model.embed_tokens(ids) * c.scale_emb
        cos, sin = self.rope_cos[start:start + t].to(dtype), self.rope_sin[start:start + t].to(dtype)
        mask = torch.full((t, start + t), float("-inf"), dtype=dtype).triu(start + 1)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, mask, caches[i] if caches else None)
        return self.model.norm(x) / (c.hidden_size / c.dim_model_base)

    def forward(self, ids, caches=None):
        return self.hidden_states(ids, caches) @ self.output_weight().t()

    def new_caches(self):
        return [LayerCache() for _ in self.model.layers]

    def load_weights(self, tensors):
        """tensors: {HF name: tensor}; every parameter must be present."""
        own = self.state_dict()
        missing = [name for name in own if name not in tensors]
        extra = [name for name in tensors if name not in own]
        if missing or extra:
            raise ValueError(f"checkpoint mismatch: missing {missing[:5]}, unexpected {extra[:5]}")
        self.load_state_dict({name: tensors[name].to(own[name].dtype) for name in own})


def load_checkpoint(folder, dtype=torch.float64, context_length=None):
    config = Config.load(f"{folder}/config.json")
    model = MiniCPM3(config, context_length).to(dtype)
    model.load_weights(read_safetensors(f"{folder}/model.safetensors"))
    return model.eval()


@torch.no_grad()
def greedy(model, prompt_ids, steps):
    """Greedy continuation by recomputing the whole sequence; returns (ids, smallest top-2 margin)."""
    ids, margin = list(prompt_ids), float("inf")
    for _ in range(steps):
        logits = model(torch.tensor([ids]))[0, -1]
        top = torch.topk(logits, 2).values
        margin = min(margin, float(top[0] - top[1]))
        ids.append(int(logits.argmax()))
    return ids[len(prompt_ids):], margin
