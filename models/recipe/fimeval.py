"""Single-line infill on the held-out files, greedy, on the GPU: the gate of a fine-tuning run.

The question the CPU benchmark (`bench model`, our engine) asks, asked here in seconds so a run
can compare the model it started from with the one it made, in the same call: the cursor sits at
the start of an emptied line; the model, prompted in SPM and in PSM like the extension prompts
(`<|file_sep|>{path}\\n` header, parts tokenized separately), should write that line and then end
the middle (`<|endoftext|>`).

Per language and layout: ended (an end-of-middle token within the budget), infill EM (ended right
after exactly the line), next-line EM (the first line written is the line), nothing written.

  python3 fimeval.py --model DIR --out fimeval_init.json      # a Hugging Face folder
  python3 fimeval.py --ckpt /tmp/slip/ckpt.pt --out x.json    # or a training checkpoint
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import time

import torch

from model import Config, Qwen2ForCausalLM, load_hf_weights
from prep import SEED, WORK, DocEncoder, assemble, load_corpus, own_copies

BEFORE_CHARS = 3000
AFTER_CHARS = 1000
MAX_NEW = 48


def wilson(k: int, n: int) -> list[float]:
    if n == 0:
        return [0.0, 0.0]
    z = 1.96
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [round(100 * max(0.0, c - h), 1), round(100 * min(1.0, c + h), 1)]


def examples(corpus: dict, group: str, n: int) -> list[dict]:
    docs = own_copies([r for r in corpus["heldout"] if r["group"] == group])
    docs.sort(key=lambda d: d["sha"])
    rng = random.Random(f"{SEED}/fimeval/{group}")
    rng.shuffle(docs)
    out = []
    rounds = 0
    while len(out) < n and rounds < 4:
        for d in docs:
            if len(out) >= n:
                break
            lines = d["text"].split("\n")
            cands = [i for i in range(3, len(lines)) if 3 <= len(lines[i].strip()) and len(lines[i]) <= 200]
            if not cands:
                continue
            i = rng.choice(cands)
            before = "\n".join(lines[:i]) + "\n"
            after = "\n" + "\n".join(lines[i + 1:]) if i + 1 < len(lines) else ""
            if len(before) > BEFORE_CHARS:
                cut = before.find("\n", len(before) - BEFORE_CHARS)
                before = before[cut + 1:]
            if len(after) > AFTER_CHARS:
                after = after[:after.rfind("\n", 0, AFTER_CHARS) + 1] or after[:AFTER_CHARS]
            out.append({"path": d["path"], "before": before, "after": after, "target": lines[i]})
        rounds += 1
    return out


@torch.inference_mode()
def generate(model, prompts: list[list[int]], stop: set[int], dev: str, batch: int = 32) -> list[list[int]]:
    """Greedy, batched by length, right-padded, full recompute per step (the model has no KV cache)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    res: list[list[int]] = [[] for _ in prompts]
    stop_t = torch.tensor(sorted(stop), device=dev)
    for j in range(0, len(order), batch):
        idx = order[j:j + batch]
        lens = torch.tensor([len(prompts[i]) for i in idx], device=dev)
        L = int(lens.max()) + MAX_NEW
        ids = torch.zeros((len(idx), L), dtype=torch.long, device=dev)
        for r, i in enumerate(idx):
            ids[r, :len(prompts[i])] = torch.tensor(prompts[i], device=dev)
        done = torch.zeros(len(idx), dtype=torch.bool, device=dev)
        cur = lens.clone()
        rows = torch.arange(len(idx), device=dev)
        for _ in range(MAX_NEW):
            T = int(cur.max())
            with torch.autocast(dev, dtype=torch.bfloat16):
                logits = model(ids[:, :T])
            nxt = logits[rows, cur - 1].float().argmax(-1)
            ids[rows, cur] = torch.where(done, ids[rows, cur], nxt)
            newly = torch.isin(nxt, stop_t) & ~done
            cur = torch.where(done, cur, cur + 1)
            done = done | newly
            if bool(done.all()):
                break
        for r, i in enumerate(idx):
            res[i] = ids[r, len(prompts[i]):int(cur[r])].tolist()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="")
    ap.add_argument("--ckpt", default="")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    t0 = time.time()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if args.model:
        model = Qwen2ForCausalLM(Config.from_folder(args.model))
        load_hf_weights(model, args.model)
    else:
        ck = torch.load(args.ckpt, map_location="cpu", weights_only=False)
        model = Qwen2ForCausalLM(Config.of_checkpoint(ck))
        model.load_state_dict({k: v for k, v in ck["model"].items() if not k.startswith("hlp.")})
    model.to(dev).eval()
    enc = DocEncoder(os.path.join(WORK, "tokenizer", "tokenizer.json"))
    sp = enc.sp
    eot, fs = sp["<|endoftext|>"], sp["<|file_sep|>"]
    stop = {eot, fs}
    report = {"source": args.model or args.ckpt, "n_per_language": args.n, "max_new_tokens": MAX_NEW, "results": {}}
    samples = {}
    corpus = load_corpus()
    for g in ("python", "c", "ts"):
        exs = examples(corpus, g, args.n)
        for layout in ("spm", "psm"):
            # the training layout with an empty middle, less its end token: exactly the prompt
            prompts = [assemble(layout, enc.encode_many([e["path"] + "\n", e["before"], e["after"]]) + [[]], sp)[:-1]
                       for e in exs]
            outs = generate(model, prompts, stop, dev)
            k_end = k_infill = k_next = k_blank = 0
            for e, o in zip(exs, outs):
                ended = bool(o) and o[-1] in stop
                text = enc.tok.decode(o[:-1] if ended else o, skip_special_tokens=False)
                first = text.split("\n")[0]
                k_end += ended
                k_blank += ended and text == ""
                k_infill += ended and text == e["target"]
                k_next += first == e["target"] and (ended or "\n" in text)
            n = len(exs)
            report["results"][f"{g}/{layout}"] = {
                "n": n,
                "ended": round(100 * k_end / n, 1), "ended_ci": wilson(k_end, n),
                "infill_em": round(100 * k_infill / n, 1), "infill_em_ci": wilson(k_infill, n),
                "next_line_em": round(100 * k_next / n, 1), "next_line_em_ci": wilson(k_next, n),
                "nothing_written": round(100 * k_blank / n, 1),
            }
            samples[f"{g}/{layout}"] = [{"target": e["target"], "out": enc.tok.decode(o, skip_special_tokens=False)}
                                        for e, o in list(zip(exs, outs))[:3]]
            print(g, layout, json.dumps(report["results"][f"{g}/{layout}"]), flush=True)
    report["samples"] = samples
    report["seconds"] = round(time.time() - t0, 1)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
