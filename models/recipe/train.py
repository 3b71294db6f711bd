"""Train the Slipstream default model (Qwen2 shape, ~30M parameters) on the token streams made by
prep.py. Resumable: each call trains until --deadline (unix seconds) or the end of the schedule,
then saves WORK/ckpt.pt; the next call continues from it with the same schedule and data order.

Data order: the training stream is view 0, then view 1, ... (each view = every training file once,
in its own shuffled order and with its own FIM choices), cut into 2049-token rows with stride 2048.
Step s reads rows [s*B, (s+1)*B). Nothing depends on timing except where training stops.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch

from model import Config, Qwen2ForCausalLM, hlp_targets, load_hf_weights

WORK = os.environ.get("SLIP_WORK", "/tmp/slip")
SEQ = int(os.environ.get("SLIP_SEQ", "2048"))  # overridden only by local tests of the loop
EVAL_LIMIT = int(os.environ.get("SLIP_EVAL_LIMIT", "0"))  # likewise
GROUPS = ("python", "c", "ts")


def log_line(path: str, rec: dict):
    rec = {"time": round(time.time(), 1), **rec}
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


class Stream:
    """Rows of SEQ+1 tokens over the concatenated views, waiting for views still being made."""

    def __init__(self, vdir: str, deadline: float, first_view: int = 0):
        self.vdir = vdir
        self.first_view = first_view
        self.deadline = deadline
        self.views: list[np.ndarray] = []
        self.starts: list[int] = [0]  # first global row of each view

    def _load_next(self):
        v = self.first_view + len(self.views)
        meta = os.path.join(self.vdir, f"view{v}.json")
        while not os.path.exists(meta):
            if time.time() > self.deadline:
                raise TimeoutError(f"view {v} not ready")
            time.sleep(1.0)
        arr = np.memmap(os.path.join(self.vdir, f"view{v}.bin"), dtype=np.uint16, mode="r")
        self.views.append(arr)
        self.starts.append(self.starts[-1] + (len(arr) - 1) // SEQ)

    def rows(self, first: int, n: int) -> np.ndarray:
        out = np.empty((n, SEQ + 1), dtype=np.int64)
        for j in range(n):
            g = first + j
            while g >= self.starts[-1]:
                self._load_next()
            v = int(np.searchsorted(self.starts, g, side="right") - 1)
            off = (g - self.starts[v]) * SEQ
            out[j] = self.views[v][off: off + SEQ + 1]
        return out


def lr_at(step: int, plan: dict) -> float:
    peak, warm, total, floor = plan["peak_lr"], plan["warmup"], plan["total_steps"], plan["min_lr_ratio"]
    if step < warm:
        return peak * (step + 1) / warm
    tail = plan.get("tail")
    if tail and step >= tail["start"]:
        # schedule compressed to fit the last call: cosine from the lr reached to the floor
        p = min(1.0, (step - tail["start"]) / max(1, tail["total"] - tail["start"]))
        lo = peak * floor
        return lo + (tail["lr_start"] - lo) * 0.5 * (1 + math.cos(math.pi * p))
    p = min(1.0, (step - warm) / max(1, total - warm))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def total_steps_of(plan: dict) -> int:
    return plan["tail"]["total"] if plan.get("tail") else plan["total_steps"]


@torch.no_grad()
def evaluate(model, dev, batch: int = 16) -> dict:
    """Held-out loss per group: plain documents (all tokens) and FIM middles."""
    model.eval()
    res = {}
    edir = os.path.join(WORK, "eval")
    for g in GROUPS:
        p = os.path.join(edir, f"{g}_plain.npy")
        if os.path.exists(p):
            a = torch.from_numpy(np.load(p).astype(np.int64)).to(dev)
            if EVAL_LIMIT:
                a = a[:EVAL_LIMIT, :SEQ + 1]
            tot, n = 0.0, 0
            for i in range(0, len(a), batch):
                b = a[i:i + batch]
                with torch.autocast(dev, dtype=torch.bfloat16):
                    loss = model(b[:, :-1], labels=b[:, 1:])
                tot += loss.item() * b[:, 1:].numel()
                n += b[:, 1:].numel()
            if n:
                res[f"{g}_plain"] = round(tot / n, 4)
        px = os.path.join(edir, f"{g}_fim_x.npy")
        if os.path.exists(px):
            x = torch.from_numpy(np.load(px).astype(np.int64)).to(dev)
            y = torch.from_numpy(np.load(os.path.join(edir, f"{g}_fim_y.npy")).astype(np.int64)).to(dev)
            if EVAL_LIMIT:
                x, y = x[:EVAL_LIMIT], y[:EVAL_LIMIT]
            tot, n = 0.0, 0
            for i in range(0, len(x), batch):
                with torch.autocast(dev, dtype=torch.bfloat16):
                    loss = model(x[i:i + batch], labels=y[i:i + batch])
                k = int((y[i:i + batch] != -100).sum())
                tot += loss.item() * k
                n += k
            if n:
                res[f"{g}_fim_middle"] = round(tot / n, 4)
    model.train()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deadline", type=float, required=True, help="unix time by which to have saved")
    ap.add_argument("--later-seconds", type=float, default=960.0,
                    help="training seconds expected in later calls (sizes the schedule on first start)")
    ap.add_argument("--final", action="store_true", help="last call: compress the schedule's tail if needed")
    ap.add_argument("--total-steps", type=int, default=0, help="fixed schedule length (0: size from throughput)")
    ap.add_argument("--peak-lr", type=float, default=1.5e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--batch-seqs", type=int, default=256)
    ap.add_argument("--micro", type=int, default=32)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--max-steps-this-call", type=int, default=0, help="smoke tests")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--measure-at", type=int, default=25, help="step of this call at which speed is measured")
    ap.add_argument("--grow-layers", type=int, default=0,
                    help="with --init-from: start a deeper model, the start model's layers plus copies "
                         "that add nothing at first (model.grown_layer_map)")
    ap.add_argument("--init-from", default="",
                    help="fine-tuning: a Hugging Face folder whose weights start the run (ignored when "
                         "WORK/ckpt.pt exists); the data are the views of SLIP_MIX")
    args = ap.parse_args()

    t_start = time.time()
    torch.manual_seed(args.seed)
    dev = os.environ.get("SLIP_DEVICE", "cuda")  # "cpu" only for local tests of the loop
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    logf = os.path.join(WORK, "train_log.jsonl")
    ckpt_path = os.path.join(WORK, "ckpt.pt")
    plan_path = os.path.join(WORK, "plan.json")

    # the shape: the checkpoint's when resuming, else the start model's (grown to --grow-layers)
    ck = torch.load(ckpt_path, map_location="cpu", weights_only=False) if os.path.exists(ckpt_path) else None
    grow_from = 0
    if ck is not None:
        cfg = Config.of_checkpoint(ck)
    elif args.init_from:
        cfg = Config.from_folder(args.init_from)
        if args.grow_layers:
            grow_from, cfg.num_hidden_layers = cfg.num_hidden_layers, args.grow_layers
    else:
        cfg = Config()
    if os.environ.get("SLIP_TINY"):  # local tests of the loop only
        cfg = Config(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    print(f"shape: {cfg}", flush=True)
    model = Qwen2ForCausalLM(cfg)
    model.init_weights(args.seed)
    from prep import MIX, MIXES, SPECIAL_TOKENS
    mix = MIXES[MIX]
    if mix.get("hlp"):
        model.enable_hlp(float(mix["hlp"]))
    model.to(dev)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.peak_lr, betas=(0.9, 0.95), eps=1e-8, **({"fused": True} if dev == "cuda" else {}))
    if args.init_from and ck is None:
        load_hf_weights(model, args.init_from, grow_from=grow_from)
        print(f"initialised from {args.init_from}"
              + (f", grown from {grow_from} to {cfg.num_hidden_layers} layers" if grow_from else ""), flush=True)
    step = 0
    plan = None
    if os.path.exists(plan_path):
        with open(plan_path) as f:
            plan = json.load(f)
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        plan = ck["plan"]
        print(f"resumed at step {step}", flush=True)
    if plan is None and args.total_steps:
        plan = {"total_steps": args.total_steps}
    if plan is not None:
        plan.setdefault("peak_lr", args.peak_lr)
        plan.setdefault("warmup", args.warmup)
        plan.setdefault("min_lr_ratio", args.min_lr_ratio)
    n_params = sum(p.numel() for p in model.parameters())
    tokens_per_step = args.batch_seqs * SEQ
    accum = args.batch_seqs // args.micro
    print(f"params {n_params} tokens/step {tokens_per_step} accum {accum}", flush=True)

    cmodel = model if args.no_compile else torch.compile(model, fullgraph=True)
    PAD_ID = SPECIAL_TOKENS.index("<|fim_pad|>")
    EOT_ID = SPECIAL_TOKENS.index("<|endoftext|>")
    eot_weight = float(mix.get("eot_weight", 1.0))
    FM_ID = SPECIAL_TOKENS.index("<|fim_middle|>")
    stream = Stream(os.path.join(WORK, mix["views"]), deadline=args.deadline - 30, first_view=mix["first_view"])
    print(f"data: mix {MIX}, {mix['views']} from view {mix['first_view']}", flush=True)

    def save(done: bool):
        tmp = ckpt_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "plan": plan,
                    "done": done, "config": dict(cfg.__dict__)}, tmp)
        os.replace(tmp, ckpt_path)
        if plan is not None:
            with open(plan_path, "w") as f:
                json.dump(plan, f)

    # time per step, measured in this call after compilation
    t_mark, s_mark, sec_per_step = None, None, None
    loss_acc = torch.zeros((), device=dev)
    n_acc = 0
    steps_this_call = 0
    last_eval_step, ev = -1, {}
    last_log = time.time()
    tokens_seen_call = 0
    while True:
        if plan is not None and step >= total_steps_of(plan):
            break
        if args.max_steps_this_call and steps_this_call >= args.max_steps_this_call:
            break
        # stop early enough to evaluate and save (a step takes < 1 s)
        if time.time() + (sec_per_step or 1.0) + 12 > args.deadline:
            break
        lr = lr_at(step, plan or {"peak_lr": args.peak_lr, "warmup": args.warmup,
                                  "total_steps": 10**9, "min_lr_ratio": args.min_lr_ratio})
        for gparam in opt.param_groups:
            gparam["lr"] = lr
        try:
            rows = stream.rows(step * args.batch_seqs, args.batch_seqs)
        except TimeoutError as e:  # the next view was not made in time: save and stop
            print(f"STOP: {e}", flush=True)
            break
        batch = torch.from_numpy(rows)
        batch = batch.pin_memory().to(dev, non_blocking=True) if dev == "cuda" else batch
        for m in range(accum):
            b = batch[m * args.micro:(m + 1) * args.micro]
            labels = b[:, 1:]
            if mix.get("pack") == "rows":  # RowPacker's padding carries no loss
                labels = labels.masked_fill(labels == PAD_ID, -100)
            # the mix may weight the end token (end of a middle or of a file) in the loss
            weights = (labels == EOT_ID).float() * (eot_weight - 1.0) + 1.0 if eot_weight != 1.0 else None
            hlp_t = hlp_targets(b, FM_ID, EOT_ID) if model.hlp is not None else None
            with torch.autocast(dev, dtype=torch.bfloat16):
                loss = cmodel(b[:, :-1], labels=labels, weights=weights, hlp_target=hlp_t)
            (loss / accum).backward()
            loss_acc += loss.detach()
            n_acc += 1
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        steps_this_call += 1
        tokens_seen_call += tokens_per_step

        if steps_this_call == 5:
            if dev == "cuda":
                torch.cuda.synchronize()
            t_mark, s_mark = time.time(), step
            print(f"compiled and warm after {t_mark - t_start:.1f}s", flush=True)
        if steps_this_call == args.measure_at and t_mark is not None:
            if dev == "cuda":
                torch.cuda.synchronize()
            sec_per_step = (time.time() - t_mark) / (step - s_mark)
            left = args.deadline - time.time() - 15
            if plan is None:
                secs = left + args.later_seconds
                total = step + int(0.96 * secs / sec_per_step)
                plan = {"total_steps": total, "peak_lr": args.peak_lr, "warmup": args.warmup,
                        "min_lr_ratio": args.min_lr_ratio, "sec_per_step_measured": sec_per_step,
                        "tokens_per_step": tokens_per_step, "seed": args.seed}
                with open(plan_path, "w") as f:
                    json.dump(plan, f)
                print(f"PLAN total_steps={total} ({total * tokens_per_step / 1e9:.3f}B tokens), "
                      f"{sec_per_step:.3f}s/step, {tokens_per_step / sec_per_step / 1e6:.3f}M tok/s", flush=True)
            elif args.final:
                need = total_steps_of(plan) - step
                evals = need // args.eval_every + 1
                fit = int((left - 4 * evals) / (sec_per_step * 1.03)) - 2
                if need > fit:
                    plan["tail"] = {"start": step, "lr_start": lr_at(step, plan), "total": step + max(fit, 1)}
                    print(f"TAIL compressed: {need} steps left, {fit} fit: {plan['tail']}", flush=True)
                    with open(plan_path, "w") as f:
                        json.dump(plan, f)

        if step % 10 == 0:
            lv = (loss_acc / max(n_acc, 1)).item()
            now = time.time()
            rec = {"step": step, "loss": round(lv, 4), "lr": lr, "gnorm": round(float(gnorm), 3),
                   "tok_s": round(10 * tokens_per_step / max(now - last_log, 1e-6)),
                   "tokens": step * tokens_per_step}
            last_log = now
            log_line(logf, rec)
            print(json.dumps(rec), flush=True)
            loss_acc.zero_()
            n_acc = 0
        if step % args.eval_every == 0:
            ev = evaluate(model, dev)
            last_eval_step = step
            log_line(logf, {"step": step, "eval": ev})
            print("EVAL", step, json.dumps(ev), flush=True)

    # plan stays None if this call stopped before the sizing step: the next call sizes it
    done = plan is not None and step >= total_steps_of(plan)
    if last_eval_step != step:
        ev = evaluate(model, dev)
    log_line(logf, {"step": step, "eval": ev, "end_of_call": True, "done": done})
    print("EVAL", step, json.dumps(ev), flush=True)
    save(done)
    el = time.time() - (t_mark or t_start)
    summary = {"step": step, "done": done, "total_steps": total_steps_of(plan) if plan else None,
               "tokens_trained": step * tokens_per_step, "steps_this_call": steps_this_call,
               "sec_per_step": sec_per_step,
               "tok_s_after_warmup": round((step - (s_mark or 0)) * tokens_per_step / el) if s_mark else None,
               "call_seconds": round(time.time() - t_start, 1), "eval": ev, "params": n_params}
    log_line(logf, {"summary": summary})
    print("SUMMARY", json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
