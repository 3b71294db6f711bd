"""A compact Qwen2ForCausalLM: the same math and the same parameter names as transformers'
Qwen2ForCausalLM, so this module's state dict IS the Hugging Face checkpoint.

  python3 model.py check     # fp32 logits vs transformers' Qwen2ForCausalLM on random weights
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 15232
    hidden_size: int = 512
    intermediate_size: int = 1408
    num_hidden_layers: int = 8
    num_attention_heads: int = 8
    num_key_value_heads: int = 2
    max_position_embeddings: int = 2048
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = True
    initializer_range: float = 0.02

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """Our fields out of a Hugging Face config.json (or a checkpoint's saved config)."""
        d = dict(d)
        if "rope_theta" not in d or d["rope_theta"] is None:
            d["rope_theta"] = (d.get("rope_parameters") or {}).get("rope_theta", cls.rope_theta)
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: d[k] for k in names if k in d})

    @classmethod
    def of_checkpoint(cls, ck: dict) -> "Config":
        """A train.py checkpoint's shape (checkpoints from before shapes were saved: the default)."""
        return cls.from_dict(ck["config"]) if ck.get("config") else cls()

    @classmethod
    def from_folder(cls, folder: str) -> "Config":
        import os
        with open(os.path.join(folder, "config.json")) as f:
            return cls.from_dict(json.load(f))


class RMSNorm(nn.Module):
    def __init__(self, n: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        dt = x.dtype
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dt)


def rope_tables(cfg: Config, device=None):
    """cos/sin [max_pos, head_dim] in fp32, computed as transformers' default rope does."""
    d = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64, device=device).float() / d))
    t = torch.arange(cfg.max_position_embeddings, device=device, dtype=torch.float32)
    freqs = t[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.nh, self.nkv, self.hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        h = cfg.hidden_size
        self.q_proj = nn.Linear(h, self.nh * self.hd, bias=True)
        self.k_proj = nn.Linear(h, self.nkv * self.hd, bias=True)
        self.v_proj = nn.Linear(h, self.nkv * self.hd, bias=True)
        self.o_proj = nn.Linear(self.nh * self.hd, h, bias=False)

    def forward(self, x, cos, sin):
        # x [B, T, H]; cos/sin [B or 1, 1, T, hd] fp32
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        dt = q.dtype
        qf, kf = q.float(), k.float()
        q = (qf * cos + rotate_half(qf) * sin).to(dt)
        k = (kf * cos + rotate_half(kf) * sin).to(dt)
        rep = self.nh // self.nkv
        # kv head j serves query heads j*rep .. j*rep+rep-1, as transformers' repeat_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.to(dt).repeat_interleave(rep, dim=1)
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # old torch (CPU tests only)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            y = att.masked_fill(mask, float("-inf")).softmax(-1) @ v
        y = y.transpose(1, 2).reshape(B, T, self.nh * self.hd)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Qwen2Model(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class Qwen2ForCausalLM(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.model = Qwen2Model(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        # horizon-length prediction (training only, never exported): see enable_hlp
        self.hlp = None
        self.hlp_weight = 0.0
        cos, sin = rope_tables(cfg)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def init_weights(self, seed: int):
        g = torch.Generator().manual_seed(seed)
        std = self.cfg.initializer_range
        out_std = std / math.sqrt(2 * self.cfg.num_hidden_layers)
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            else:
                s = out_std if name.endswith(("o_proj.weight", "down_proj.weight")) else std
                with torch.no_grad():
                    p.copy_(torch.randn(p.shape, generator=g) * s)

    def enable_hlp(self, weight: float):
        """An auxiliary head that reads the last hidden state at every position inside a FIM middle
        and predicts the share of the middle still to come (1 at its start, 1/len before its end
        token), trained with an L1 loss next to next-token prediction (horizon-length prediction,
        Ding et al. 2024): it makes the model plan where the middle ends. The head is not part of
        the checkpoint: hf_state_dict drops it and inference never runs it."""
        self.hlp = nn.Linear(self.cfg.hidden_size, 1)
        nn.init.zeros_(self.hlp.weight)
        nn.init.zeros_(self.hlp.bias)
        self.hlp_weight = weight

    def forward(self, input_ids, labels=None, position_ids=None, weights=None, hlp_target=None):
        B, T = input_ids.shape
        x = self.model.embed_tokens(input_ids)
        if position_ids is None:
            cos = self.rope_cos[:T][None, None]
            sin = self.rope_sin[:T][None, None]
        else:
            cos = self.rope_cos[position_ids][:, None]
            sin = self.rope_sin[position_ids][:, None]
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        x = self.model.norm(x)
        logits = self.lm_head(x)
        if labels is None:
            return logits
        flat = logits.float().view(-1, logits.shape[-1])
        if weights is None:
            loss = F.cross_entropy(flat, labels.reshape(-1), ignore_index=-100)
        else:
            # weighted mean over the tokens that carry a label
            per = F.cross_entropy(flat, labels.reshape(-1), ignore_index=-100, reduction="none")
            w = weights.reshape(-1).float() * (labels.reshape(-1) != -100)
            loss = (per * w).sum() / w.sum().clamp_min(1e-6)
        if hlp_target is not None and self.hlp is not None:
            pred = torch.sigmoid(self.hlp(x).squeeze(-1).float())
            m = (hlp_target >= 0).float()
            loss = loss + self.hlp_weight * ((pred - hlp_target).abs() * m).sum() / m.sum().clamp_min(1.0)
        return loss

    def hf_state_dict(self) -> dict:
        """The tensors a tied Qwen2 checkpoint stores (lm_head.weight is not saved)."""
        sd = {k: v for k, v in self.state_dict().items() if not k.startswith("hlp.")}
        if self.cfg.tie_word_embeddings:
            sd.pop("lm_head.weight", None)
        return sd


def hlp_targets(rows, fim_middle_id: int, eot_id: int):
    """Horizon-length targets for rows [B, T+1] (inputs rows[:, :-1]): at input position t inside a
    FIM middle (the <|fim_middle|> token at m, the end token at e, m <= t < e, all in the row) the
    share of the middle still to predict, (e - t) / (e - m); -1 elsewhere (no loss)."""
    B, T1 = rows.shape
    ar = torch.arange(T1, device=rows.device).expand(B, T1)
    neg = torch.full_like(ar, -1)
    last_fm = torch.where(rows == fim_middle_id, ar, neg).cummax(1).values
    last_eot = torch.where(rows == eot_id, ar, neg).cummax(1).values
    far = torch.full_like(ar, T1)
    next_eot = torch.where(rows == eot_id, ar, far).flip(1).cummin(1).values.flip(1)
    valid = (last_fm >= 0) & (last_fm > last_eot) & (next_eot < T1)
    tgt = (next_eot - ar).float() / (next_eot - last_fm).clamp_min(1).float()
    return torch.where(valid, tgt, torch.full_like(tgt, -1.0))[:, :-1]


def load_hf_weights(model, folder: str, grow_from: int = 0):
    """Load a (tied) Qwen2 safetensors checkpoint into our module; every stored tensor must match.
    grow_from = the folder's layer count when the module is deeper (grow_state_dict)."""
    import os
    from safetensors.torch import load_file
    sd = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith(".safetensors"):
            sd.update(load_file(os.path.join(folder, f)))
    if grow_from and grow_from != model.cfg.num_hidden_layers:
        sd = grow_state_dict(sd, grow_from, model.cfg.num_hidden_layers)
    own = model.state_dict()
    missing = [k for k in own if k not in sd and k != "lm_head.weight" and not k.startswith("hlp.")]
    unexpected = [k for k in sd if k not in own]
    bad = [k for k in sd if k in own and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        raise SystemExit(f"{folder}: missing {missing[:5]}, unexpected {unexpected[:5]}, shape mismatch {bad[:5]}")
    with torch.no_grad():
        for k, v in sd.items():
            own[k].copy_(v.to(own[k].dtype))
    if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
        raise SystemExit(f"{folder}: lm_head is not tied to embed_tokens")


def grown_layer_map(n_src: int, n_dst: int) -> list[tuple[int, bool]]:
    """Depth growth that keeps the model's function (block expansion, as in LLaMA Pro, Wu et al.
    2024): the n_dst layers are the n_src layers in order with n_dst - n_src copies spread evenly
    among them, each copy placed right after its original. Entry i = (source layer, is_copy); a
    copy gets its source's weights except o_proj and down_proj, which are zero, so it adds
    nothing to the residual stream until training moves them."""
    if n_dst < n_src:
        raise ValueError(f"cannot grow {n_src} layers to {n_dst}")
    extra = n_dst - n_src
    # copy after source layers floor((j + 1) * n_src / extra) - 1, j = 0..extra-1 (spread evenly, the last one last)
    after = [((j + 1) * n_src) // extra - 1 for j in range(extra)] if extra else []
    out: list[tuple[int, bool]] = []
    for i in range(n_src):
        out.append((i, False))
        out.extend((i, True) for a in after if a == i)
    return out


def grow_state_dict(sd: dict, n_src: int, n_dst: int) -> dict:
    """A Hugging Face Qwen2 state dict of n_src layers as one of n_dst layers (grown_layer_map)."""
    out = {k: v for k, v in sd.items() if not k.startswith("model.layers.")}
    for i, (src, copy) in enumerate(grown_layer_map(n_src, n_dst)):
        pre = f"model.layers.{src}."
        for k, v in sd.items():
            if k.startswith(pre):
                rest = k[len(pre):]
                v = v.clone()
                if copy and rest in ("self_attn.o_proj.weight", "mlp.down_proj.weight"):
                    v.zero_()
                out[f"model.layers.{i}.{rest}"] = v
    return out


def hf_config_dict(cfg: Config, eos_id: int, pad_id: int | None = None) -> dict:
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
        "hidden_act": "silu",
        "hidden_size": cfg.hidden_size,
        "head_dim": cfg.head_dim,
        "initializer_range": cfg.initializer_range,
        "intermediate_size": cfg.intermediate_size,
        "max_position_embeddings": cfg.max_position_embeddings,
        "max_window_layers": cfg.num_hidden_layers,
        "model_type": "qwen2",
        "num_attention_heads": cfg.num_attention_heads,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_key_value_heads": cfg.num_key_value_heads,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "rope_theta": cfg.rope_theta,
        "sliding_window": None,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": cfg.vocab_size,
    }


def hf_model_from_config_dict(d: dict):
    from transformers import Qwen2Config, Qwen2ForCausalLM as HF
    kw = {k: v for k, v in d.items() if k not in ("architectures", "model_type", "torch_dtype")}
    hc = Qwen2Config(**kw)
    hc._attn_implementation = "eager"
    try:
        m = HF(hc)
    except Exception:
        m = HF._from_config(hc, attn_implementation="eager")
    return m


def check(seed: int = 0) -> dict:
    """Random weights: our fp32 logits vs transformers' Qwen2ForCausalLM (eager attention)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = Config()
    ours = Qwen2ForCausalLM(cfg)
    ours.init_weights(seed)
    # perturb norms and biases so that they are exercised too
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for n, p in ours.named_parameters():
            if n.endswith("norm.weight") or n.endswith(".bias"):
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
    ours = ours.to(dev).eval()
    hf = hf_model_from_config_dict(hf_config_dict(cfg, 0))
    res = hf.load_state_dict(ours.state_dict(), strict=False)
    hf = hf.to(dev).float().eval()
    hf.tie_weights() if hasattr(hf, "tie_weights") else None
    out = {"missing": list(res.missing_keys), "unexpected": list(res.unexpected_keys),
           "n_params": sum(p.numel() for p in ours.parameters()),
           "n_params_hf": sum(p.numel() for p in hf.parameters())}
    ids = torch.randint(0, cfg.vocab_size, (2, 384), generator=g).to(dev)
    with torch.no_grad():
        a = ours(ids)
        b = hf(input_ids=ids).logits
        out["max_abs_diff_logits"] = (a - b).abs().max().item()
        out["max_abs_logit"] = b.abs().max().item()
        pos = (torch.arange(384, device=dev) + 700)[None].expand(2, -1)
        a2 = ours(ids, position_ids=pos)
        b2 = hf(input_ids=ids, position_ids=pos).logits
        out["max_abs_diff_logits_offset_pos"] = (a2 - b2).abs().max().item()
        if dev == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                c = ours(ids).float()
            out["bf16_autocast_vs_fp32_max_abs"] = (c - a).abs().max().item()
    out["ok"] = (not out["missing"] and not out["unexpected"] and out["max_abs_diff_logits"] < 1e-3
                 and out["max_abs_diff_logits_offset_pos"] < 1e-3)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "check":
        try:
            r = check()
            rc = 0 if r["ok"] else 1
        except Exception as e:  # the check itself broke (an API change): exit 2, training goes on
            import traceback
            traceback.print_exc()
            r, rc = {"ok": None, "error": repr(e)}, 2
        print("EQUIV", json.dumps(r))
        if len(sys.argv) > 2:
            with open(sys.argv[2], "w") as f:
                json.dump(r, f, indent=1)
        sys.exit(rc)
