"""Export WORK/ckpt.pt as a Hugging Face Qwen2 checkpoint folder (bf16 safetensors shards of at most
15 MiB, tied embeddings not duplicated), check that transformers loads it with no missing or
unexpected keys and gives our module's logits, and dump fp32 reference logits for the TypeScript
engine.

  python3 export.py --out DIR --logits bench_logits.json --report export_report.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

import torch

from model import Config, Qwen2ForCausalLM, hf_config_dict

WORK = os.environ.get("SLIP_WORK", "/tmp/slip")
MAX_SHARD = 15 * 1024 * 1024

# A fixed snippet for the engine comparison (plain-document prompt, as the extension sends it).
LOGITS_PATH = "slipstream/example/fib.py"
LOGITS_SNIPPET = '''import functools


@functools.lru_cache(maxsize=None)
def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)


def main():
    for i in range(10):
        print(i, fibonacci(i))
'''


def shard(sd: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Greedy, in checkpoint order: embeddings, layer by layer, final norm."""
    def key(n):
        parts = n.split(".")
        if n.startswith("model.layers."):
            return (1, int(parts[2]), n)
        return (0 if "embed_tokens" in n else 2, 0, n)

    shards, cur, size = [], {}, 0
    for n in sorted(sd, key=key):
        t = sd[n]
        nb = t.numel() * t.element_size()
        if cur and size + nb > MAX_SHARD - 64 * 1024:  # room for the safetensors header
            shards.append(cur)
            cur, size = {}, 0
        cur[n] = t
        size += nb
    if cur:
        shards.append(cur)
    return shards


def sha256_file(p: str) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--logits", default="")
    ap.add_argument("--report", default="")
    args = ap.parse_args()
    from safetensors.torch import save_file
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from tokenizers import Tokenizer

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    t0 = time.time()
    ck = torch.load(os.path.join(WORK, "ckpt.pt"), map_location="cpu", weights_only=False)
    cfg = Config.of_checkpoint(ck)
    model = Qwen2ForCausalLM(cfg)
    # training-only heads (horizon-length prediction) are not part of the model
    model.load_state_dict({k: v for k, v in ck["model"].items() if not k.startswith("hlp.")})
    os.makedirs(args.out, exist_ok=True)
    for f in os.listdir(args.out):
        if f.startswith("model") and (f.endswith(".safetensors") or f.endswith(".json")):
            os.remove(os.path.join(args.out, f))

    tdir = os.path.join(WORK, "tokenizer")
    tok = Tokenizer.from_file(os.path.join(tdir, "tokenizer.json"))
    eot, pad, fsep = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<|fim_pad|>"), tok.token_to_id("<|file_sep|>")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        with open(os.path.join(tdir, name), "rb") as src, open(os.path.join(args.out, name), "wb") as dst:
            dst.write(src.read())
    conf = hf_config_dict(cfg, eot)
    conf["transformers_version"] = transformers.__version__
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
    gen = {"bos_token_id": eot, "eos_token_id": [eot, fsep], "pad_token_id": pad, "do_sample": False,
           "max_new_tokens": 64, "transformers_version": transformers.__version__,
           # Slipstream's own key (transformers ignores it): the trained model completes in the SPM
           # order and almost never in PSM (bench/results/model.md), so the extension asks for SPM.
           "fim_layout": "spm"}
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)

    sd = {k: v.to(torch.bfloat16).contiguous() for k, v in model.hf_state_dict().items()}
    shards = shard(sd)
    n = len(shards)
    weight_map, total = {}, 0
    for i, s in enumerate(shards):
        fn = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
        save_file(s, os.path.join(args.out, fn), metadata={"format": "pt"})
        for k, v in s.items():
            weight_map[k] = fn
            total += v.numel() * v.element_size()
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    files = sorted(os.listdir(args.out))
    sizes = {f: os.path.getsize(os.path.join(args.out, f)) for f in files}
    report = {"files": sizes, "total_bytes": sum(sizes.values()), "params": sum(p.numel() for p in model.parameters()),
              "step": ck["step"], "done": ck.get("done"), "plan": ck["plan"],
              "max_shard_bytes": max(v for k, v in sizes.items() if k.endswith(".safetensors"))}
    assert report["max_shard_bytes"] <= MAX_SHARD, report

    # transformers loads the folder: no missing/unexpected keys, and the same logits as our module
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    hfc = AutoConfig.from_pretrained(args.out)
    report["hf_config"] = {k: str(getattr(hfc, k, None)) for k in
                           ("model_type", "vocab_size", "tie_word_embeddings", "rope_theta", "rope_parameters",
                            "num_key_value_heads", "head_dim", "max_position_embeddings", "use_sliding_window")}
    try:
        hf, info = AutoModelForCausalLM.from_pretrained(args.out, dtype=torch.float32, attn_implementation="eager",
                                                        output_loading_info=True)
    except TypeError:
        hf, info = AutoModelForCausalLM.from_pretrained(args.out, torch_dtype=torch.float32,
                                                        attn_implementation="eager", output_loading_info=True)
    report["loading_info"] = {k: sorted(map(str, v)) for k, v in info.items()}
    report["hf_class"] = type(hf).__name__
    ours = Qwen2ForCausalLM(cfg)
    ours.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    # our module with exactly the exported (bf16-rounded) weights
    with torch.no_grad():
        for k, p in ours.state_dict().items():
            if k in sd:
                p.copy_(sd[k].float())
    ours = ours.to(dev).eval()
    hf = hf.to(dev).eval()
    report["tied_in_hf"] = bool(hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr())

    tok.encode_special_tokens = True
    ids = [fsep] + tok.encode(LOGITS_PATH + "\n", add_special_tokens=False).ids + \
        tok.encode(LOGITS_SNIPPET, add_special_tokens=False).ids
    ids = ids[:64]
    x = torch.tensor([ids], device=dev)
    with torch.no_grad():
        a = ours(x).float()
        b = hf(input_ids=x).logits.float()
    report["ours_vs_transformers_fp32_gpu_max_abs"] = (a - b).abs().max().item()
    report["ours_vs_transformers_fp32_gpu_rel_l2"] = ((a - b).norm() / b.norm()).item()
    # random tokens too, at full context length
    g = torch.Generator().manual_seed(7)
    r = torch.randint(0, cfg.vocab_size, (1, 2048), generator=g).to(dev)
    with torch.no_grad():
        report["ours_vs_transformers_fp32_gpu_max_abs_random2048"] = (ours(r) - hf(input_ids=r).logits).abs().max().item()

    # transformers' tokenizer loads the folder and agrees with tokenizers; keep the first
    # tokenizer_class that does (the class must take tokenizer.json as it is, no normalizer added)
    tc_path = os.path.join(args.out, "tokenizer_config.json")
    with open(tc_path) as f:
        tconf = json.load(f)
    sample = LOGITS_SNIPPET + "\nx = '<tab>\t'  # ünïcödé 12345 <|endoftext|>\n"
    tok.encode_special_tokens = False  # transformers splits special tokens by default
    want = tok.encode(sample, add_special_tokens=False).ids
    report["autotokenizer"] = {}
    chosen = None
    for cls in ("PreTrainedTokenizerFast", "TokenizersBackend", "Qwen2TokenizerFast", "Qwen2Tokenizer"):
        tconf["tokenizer_class"] = cls
        with open(tc_path, "w") as f:
            json.dump(tconf, f, indent=2)
        try:
            at = AutoTokenizer.from_pretrained(args.out)
            got = at(sample, add_special_tokens=False)["input_ids"]
            r = {"class": type(at).__name__, "matches": got == want,
                 "eos_pad": [at.eos_token, at.pad_token, at.eos_token_id, at.pad_token_id],
                 "decode_ok": at.decode(got) == sample}
        except Exception as e:
            r = {"error": repr(e)[:300]}
        report["autotokenizer"][cls] = r
        if r.get("matches") and r.get("decode_ok") and chosen is None:
            chosen = cls
            break
    tconf["tokenizer_class"] = chosen or "PreTrainedTokenizerFast"
    with open(tc_path, "w") as f:
        json.dump(tconf, f, indent=2)
    report["tokenizer_class"] = tconf["tokenizer_class"]
    tok.encode_special_tokens = True

    # reference logits on the CPU in fp32 with eager attention (what our engine compares against)
    if args.logits:
        hf_cpu = hf.to("cpu").float()
        with torch.no_grad():
            lc = hf_cpu(input_ids=torch.tensor([ids])).logits[0].float()
        report["transformers_cpu_vs_gpu_max_abs"] = (lc - b[0].cpu()).abs().max().item()
        last = lc[-4:]
        h = hashlib.sha256()
        for f in files:
            if f.endswith(".safetensors") or f.endswith(".json"):
                h.update(f.encode())
                h.update(sha256_file(os.path.join(args.out, f)).encode())
        top = torch.topk(last, 5, dim=-1)
        out = {
            "model_dir_hash_hint": "sha256 over (name, sha256(file)) of the folder's .json and .safetensors files: "
                                   + h.hexdigest(),
            "files_sha256": {f: sha256_file(os.path.join(args.out, f)) for f in files},
            "prompt": {"path": LOGITS_PATH, "layout": "<|file_sep|>{path}\\n{code}", "text": LOGITS_SNIPPET},
            "token_ids": ids,
            "positions": list(range(len(ids) - 4, len(ids))),
            "logits": [[round(float(v), 6) for v in row] for row in last],
            "top5": [{"ids": top.indices[i].tolist(), "logits": [round(float(v), 6) for v in top.values[i]]}
                     for i in range(4)],
            "dtype": "float32", "device": "cpu", "attn_implementation": "eager",
            "transformers": transformers.__version__, "torch": torch.__version__,
        }
        with open(args.logits, "w") as f:
            json.dump(out, f)
    report["seconds"] = round(time.time() - t0, 1)
    ok = (not any(report["loading_info"].get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
          and report["ours_vs_transformers_fp32_gpu_max_abs"] < 1e-3)
    report["ok"] = ok
    print("EXPORT", json.dumps({k: v for k, v in report.items() if k != "plan"}), flush=True)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
