"""The demo model's config.json: MiniCPM3 architecture at a size 2 CPU cores train in about 46 minutes (1,100 steps of 2.5 s)."""

# LongRoPE factors for the 8 rotary frequency pairs (qk_rope_head_dim 16). original = max positions, so the
# short factors apply at every position (as for MiniCPM3-4B), and they are far from 1, so they matter.
SHORT_FACTOR = [1.0, 1.1, 1.3, 1.7, 2.5, 4.0, 6.5, 9.0]
LONG_FACTOR = [1.1, 1.3, 1.7, 2.5, 4.0, 6.5, 9.0, 12.0]
MAX_POSITIONS = 2048


def demo_config(vocab_size, im_end_id):
    return {
        "architectures": ["MiniCPM3ForCausalLM"],
        "model_type": "minicpm3",
        "bos_token_id": 1,
        "eos_token_id": [2, im_end_id],
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "intermediate_size": 640,
        "max_position_embeddings": MAX_POSITIONS,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "qk_nope_head_dim": 32,
        "qk_rope_head_dim": 16,
        "q_lora_rank": 128,
        "kv_lora_rank": 64,
        "v_head_dim": 32,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "rope_scaling": {
            "type": "longrope",
            "long_factor": LONG_FACTOR,
            "short_factor": SHORT_FACTOR,
            "original_max_position_embeddings": MAX_POSITIONS,
        },
        "attention_bias": False,
        "attention_dropout": 0.0,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": vocab_size,
        "scale_emb": 12,
        "dim_model_base": 64,
        "scale_depth": 1.4,
        "tie_word_embeddings": True,
        "original_max_position_embeddings": MAX_POSITIONS,
    }
