#!/bin/bash
# One device call of the recipe, run from the repository root on the GPU machine:
#   prep (corpus, tokenizer, view 0, eval sets; skipped when /tmp/slip already holds them)
#   -> equivalence check vs transformers (first time only) -> train until the deadline
#   -> export + transformers check + reference logits (when training is done, or EXPORT=1)
# Every step is idempotent: the same command continues where the last call stopped, and
# redoes the preparation if the machine is fresh.
#
# Environment: CALL_BUDGET (s, default 585), LATER_SECONDS (training seconds expected in later
# calls, sizes the schedule on the first start; default 930), FINAL=1 (last call: squeeze the
# schedule's tail to fit), EXPORT=1 (export even if not done), VIEWS_END (default 10).
set -u -o pipefail
T0=$(date +%s)
REPO=$(pwd)
R=$REPO/models/recipe
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
export SLIP_WORK=${SLIP_WORK:-/tmp/slip}
OUT=${OUT:-/tmp/slip_out}
mkdir -p "$SLIP_WORK" "$OUT"
exec > >(tee -a "$OUT/call.log") 2>&1
CALL_BUDGET=${CALL_BUDGET:-585}
LATER_SECONDS=${LATER_SECONDS:-930}
FINAL=${FINAL:-0}
EXPORT=${EXPORT:-0}
VIEWS_END=${VIEWS_END:-10}
el() { echo $(( $(date +%s) - T0 )); }
say() { echo "[call +$(el)s] $*"; }

bundle() {
  # small files back in one archive (at most 8 files come back per call)
  local tmpd; tmpd=$(mktemp -d)
  for f in corpus_stats.json tokenizer_stats.json equiv.json plan.json train_log.jsonl export_report.json \
           transformers_logits.json eval/done.json; do
    [ -f "$SLIP_WORK/$f" ] && cp "$SLIP_WORK/$f" "$tmpd/"
  done
  cp "$SLIP_WORK"/views/view*.json "$tmpd/" 2>/dev/null
  [ -d "$SLIP_WORK/tokenizer" ] && cp -r "$SLIP_WORK/tokenizer" "$tmpd/"
  [ -d "$SLIP_WORK/heldout" ] && cp -r "$SLIP_WORK/heldout" "$tmpd/"
  if [ -d "$SLIP_WORK/export" ]; then
    mkdir -p "$tmpd/export"; cp "$SLIP_WORK"/export/*.json "$tmpd/export/"
  fi
  tar -C "$tmpd" -czf "$OUT/meta.tar.gz" .
  rm -rf "$tmpd"
}
trap bundle EXIT

say "start on $(hostname); budget ${CALL_BUDGET}s final=$FINAL export=$EXPORT"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true
python3 -c 'import torch,tokenizers,numpy;print("torch",torch.__version__,"tokenizers",tokenizers.__version__,"numpy",numpy.__version__)'
ls -la .corpus/ 2>/dev/null | head
ls "$SLIP_WORK" 2>/dev/null | tr '\n' ' '; echo

EQ_PID=""
if [ ! -f "$SLIP_WORK/equiv.json" ]; then
  (cd "$R" && python3 model.py check "$SLIP_WORK/equiv.json") > "$SLIP_WORK/equiv.log" 2>&1 &
  EQ_PID=$!
fi

if [ ! -f "$SLIP_WORK/corpus.pkl" ]; then
  TS_ARGS=(--ts .corpus/ts.jsonl.gz)
  [ -f bench/data/heldout/typescript.jsonl.gz ] && TS_ARGS+=(--ts-heldout bench/data/heldout/typescript.jsonl.gz)
  python3 "$R/prep.py" corpus "${TS_ARGS[@]}" --heldout-out "$SLIP_WORK/heldout" || { say "corpus failed"; exit 1; }
fi
say "corpus ready"
python3 "$R/prep.py" tokenizer || { say "tokenizer failed"; exit 1; }
say "tokenizer ready"
python3 "$R/prep.py" views --start 0 --end 1 --workers 16 || { say "view 0 failed"; exit 1; }
python3 "$R/prep.py" evalsets || { say "evalsets failed"; exit 1; }
say "view 0 + eval sets ready"

if [ -n "$EQ_PID" ]; then
  wait "$EQ_PID"; rc=$?
  cat "$SLIP_WORK/equiv.log" | tail -5
  if [ $rc -eq 1 ]; then say "EQUIVALENCE CHECK FAILED"; mv "$SLIP_WORK/equiv.json" "$SLIP_WORK/equiv_failed.json" 2>/dev/null; exit 1; fi
  [ $rc -ne 0 ] && say "equivalence check could not run (rc $rc): training anyway, export checks again"
fi

# the next views, made on the CPUs while the GPU trains
nice -n 10 python3 "$R/prep.py" views --start 1 --end "$VIEWS_END" --workers 12 > "$SLIP_WORK/views_bg.log" 2>&1 &
BG_PID=$!

RESERVE=10
if [ "$EXPORT" = 1 ] || [ "$FINAL" = 1 ]; then RESERVE=100; fi
DEADLINE=$(( T0 + CALL_BUDGET - RESERVE ))
TRAIN_ARGS=(--deadline "$DEADLINE" --later-seconds "$LATER_SECONDS")
[ "$FINAL" = 1 ] && TRAIN_ARGS+=(--final)
(cd "$R" && python3 train.py "${TRAIN_ARGS[@]}" ${TRAIN_EXTRA:-})
TRC=$?
say "train exited $TRC"
kill "$BG_PID" 2>/dev/null
tail -3 "$SLIP_WORK/views_bg.log"

DONE=$(python3 -c "import torch;print(int(bool(torch.load('$SLIP_WORK/ckpt.pt',map_location='cpu',weights_only=False).get('done'))))" 2>/dev/null || echo 0)
if [ "$TRC" = 0 ] && { [ "$DONE" = 1 ] || [ "$EXPORT" = 1 ]; }; then
  (cd "$R" && python3 export.py --out "$SLIP_WORK/export" --logits "$SLIP_WORK/transformers_logits.json" \
      --report "$SLIP_WORK/export_report.json")
  say "export exited $?"
  cp "$SLIP_WORK"/export/*.safetensors "$OUT/"
fi
say "end (done=$DONE)"
