#!/bin/bash
# One device call of the fine-tuning stage, run from the repository root on the GPU machine:
# the model in .ftinit/init (transport.py pack of a model folder) is trained further on the mix
# SLIP_MIX (default "editor"; prep.py MIXES: 80% FIM, 70% of it SPM, editor-shaped middles that end
# where the editor's suffix starts; "editor_rows" also keeps every FIM example inside one training
# row; "infill" also weights the end token in the loss, varies the FIM chunk length and doubles
# TS/JS), and the call compares the model it started from with the one it made
# (fimeval.py: single-line infill on the held-out files, greedy) before exporting.
#
#   carry: [".ftinit"]   (.ftinit/init = packed checkpoint, .ftinit/ts.jsonl.xz = TS/JS corpus)
#   SMOKE=1 bash models/recipe/run_ft.sh   # prep + baseline fimeval + 15 uncompiled steps, then
#                                          # forget the steps (the machine stays prepared)
#   bash models/recipe/run_ft.sh           # a whole fine-tune in one call: warm-up, cosine, export
#   # a stage over several calls issued back to back (training continues from /tmp/slip/ckpt.pt):
#   FINAL=0 LATER_SECONDS=900 bash models/recipe/run_ft.sh   # first call: sizes the schedule
#   FINAL=0 bash models/recipe/run_ft.sh                     # middle calls
#   bash models/recipe/run_ft.sh                             # last call: squeezes the tail, exports
#
# Environment: CALL_BUDGET (s, default 585), PEAK_LR (6e-4), WARMUP (30), MIN_LR_RATIO (0.1),
# SLIP_MIX, VIEWS_END (first view + 4), TOTAL_STEPS (0: sized from the measured step time
# to fit this call and LATER_SECONDS more), LATER_SECONDS (0), FINAL (1: export and evaluate at
# the end; 0: train to the deadline and stop), GROW_LAYERS (0: the start model's depth; N: a
# deeper model, the start model's layers plus zero-output copies, train.py --grow-layers),
# FIMEVAL_INIT (1: evaluate the start model too). An export over 56 MiB comes back packed
# (transport.py) as a tar in 15 MiB pieces, model-pack.tar.NN: `cat model-pack.tar.* | tar -x`.
set -u -o pipefail
T0=$(date +%s)
REPO=$(pwd)
R=$REPO/models/recipe
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True SLIP_MIX=${SLIP_MIX:-editor}
export SLIP_WORK=${SLIP_WORK:-/tmp/slip}
W=$SLIP_WORK
OUT=${OUT:-/tmp/slip_out}
mkdir -p "$W" "$OUT"
exec > >(tee -a "$OUT/call.log") 2>&1
CALL_BUDGET=${CALL_BUDGET:-585}
SMOKE=${SMOKE:-0}
PEAK_LR=${PEAK_LR:-6e-4}
WARMUP=${WARMUP:-30}
MIN_LR_RATIO=${MIN_LR_RATIO:-0.1}
TOTAL_STEPS=${TOTAL_STEPS:-0}
LATER_SECONDS=${LATER_SECONDS:-0}
FINAL=${FINAL:-1}
GROW_LAYERS=${GROW_LAYERS:-0}
FIMEVAL_INIT=${FIMEVAL_INIT:-1}
read -r FIRST_VIEW VIEWS_DIR < <(cd "$R" && python3 -c 'import prep; m = prep.MIXES[prep.MIX]; print(m["first_view"], m["views"])')
VIEWS_END=${VIEWS_END:-$(( FIRST_VIEW + 4 ))}
say() { echo "[call +$(( $(date +%s) - T0 ))s] $*"; }

bundle() {
  local tmpd; tmpd=$(mktemp -d)
  for f in corpus_stats.json plan.json train_log.jsonl train_log_smoke.jsonl export_report.json \
           transformers_logits.json fimeval_init.json fimeval_final.json eval/done.json views_bg.log; do
    [ -f "$W/$f" ] && cp "$W/$f" "$tmpd/"
  done
  cp "$W/$VIEWS_DIR"/view*.json "$tmpd/" 2>/dev/null
  [ -d "$W/heldout" ] && cp -r "$W/heldout" "$tmpd/"
  if [ -d "$W/export" ]; then mkdir -p "$tmpd/export"; cp "$W"/export/*.json "$tmpd/export/"; fi
  tar -C "$tmpd" -czf "$OUT/meta.tar.gz" .
  rm -rf "$tmpd"
}
trap bundle EXIT

say "start on $(hostname); budget ${CALL_BUDGET}s smoke=$SMOKE final=$FINAL grow=$GROW_LAYERS peak_lr=$PEAK_LR mix=$SLIP_MIX views $FIRST_VIEW..$(( VIEWS_END - 1 ))"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true
ls "$W" 2>/dev/null | tr '\n' ' '; echo

if [ ! -f "$W/init/config.json" ]; then
  python3 "$R/transport.py" unpack .ftinit/init "$W/init" || { say "unpack failed"; exit 1; }
fi
mkdir -p "$W/tokenizer"
for f in tokenizer.json tokenizer_config.json; do
  [ -f "$W/tokenizer/$f" ] || cp "$W/init/$f" "$W/tokenizer/$f"
done
if [ ! -f "$W/corpus.pkl" ]; then
  python3 "$R/prep.py" corpus --ts .ftinit/ts.jsonl.xz --ts-heldout bench/data/heldout/typescript.jsonl.gz \
      --heldout-out "$W/heldout" || { say "corpus failed"; exit 1; }
fi
say "corpus ready (tokenizer: the shipped one)"
FE_PID=""
if [ "$FIMEVAL_INIT" = 1 ] && [ ! -f "$W/fimeval_init.json" ]; then
  (cd "$R" && python3 fimeval.py --model "$W/init" --out "$W/fimeval_init.json") > "$W/fimeval_init.log" 2>&1 &
  FE_PID=$!
fi
python3 "$R/prep.py" views --start "$FIRST_VIEW" --end $(( FIRST_VIEW + 1 )) --workers 15 || { say "view $FIRST_VIEW failed"; exit 1; }
python3 "$R/prep.py" evalsets || { say "evalsets failed"; exit 1; }
say "view $FIRST_VIEW + eval sets ready"
if [ -n "$FE_PID" ]; then
  wait "$FE_PID"; say "fimeval (start model) exited $?"; tail -8 "$W/fimeval_init.log"
fi

nice -n 10 python3 "$R/prep.py" views --start $(( FIRST_VIEW + 1 )) --end "$VIEWS_END" --workers 12 > "$W/views_bg.log" 2>&1 &
BG_PID=$!

# a middle call on a machine that came back fresh (the last call's /tmp/slip lost, as happened in
# stage 6) starts over and, with no later calls planned, sizes the schedule to itself: then it is
# the last call and must export (a middle call that finishes a schedule would otherwise lose it)
if [ "$FINAL" != 1 ] && [ "$SMOKE" != 1 ] && [ ! -f "$W/ckpt.pt" ] && [ "$LATER_SECONDS" = 0 ]; then
  FINAL=1; say "no checkpoint here and no later calls planned: this call is the last one (FINAL=1)"
fi
TRAIN_ARGS=(--init-from "$W/init" --peak-lr "$PEAK_LR" --warmup "$WARMUP" --min-lr-ratio "$MIN_LR_RATIO"
            --later-seconds "$LATER_SECONDS")
[ "$GROW_LAYERS" != 0 ] && TRAIN_ARGS+=(--grow-layers "$GROW_LAYERS")
[ "$FINAL" = 1 ] && TRAIN_ARGS+=(--final)
[ "$TOTAL_STEPS" != 0 ] && TRAIN_ARGS+=(--total-steps "$TOTAL_STEPS")
if [ "$SMOKE" = 1 ]; then
  DEADLINE=$(( T0 + CALL_BUDGET - 10 ))
  TRAIN_ARGS+=(--max-steps-this-call 15 --no-compile --total-steps 1000 --eval-every 1000000)
elif [ "$FINAL" = 1 ]; then
  # export (~15 s), packing a large export (~30 s), fimeval of the result (~50-70 s)
  DEADLINE=$(( T0 + CALL_BUDGET - ${FINAL_RESERVE:-135} ))
else
  DEADLINE=$(( T0 + CALL_BUDGET - 12 ))
fi
(cd "$R" && python3 train.py --deadline "$DEADLINE" "${TRAIN_ARGS[@]}")
TRC=$?
say "train exited $TRC"
kill "$BG_PID" 2>/dev/null
tail -2 "$W/views_bg.log"

if [ "$SMOKE" = 1 ]; then
  # the steps were a test of the loop: forget them so the next call starts from the shipped model
  mv "$W/train_log.jsonl" "$W/train_log_smoke.jsonl" 2>/dev/null
  rm -f "$W/ckpt.pt" "$W/plan.json"
  say "smoke done (rc $TRC)"
  exit $TRC
fi
[ "$TRC" = 0 ] || exit $TRC
if [ "$FINAL" != 1 ]; then say "end of a middle call (training continues in the next)"; exit 0; fi
(cd "$R" && python3 export.py --out "$W/export" --logits "$W/transformers_logits.json" --report "$W/export_report.json")
say "export exited $?"
if [ "$(du -sm "$W/export" | cut -f1)" -le 56 ]; then
  cp "$W"/export/*.safetensors "$OUT/"
else
  # at most 64 MiB and 8 files come back per call: pack losslessly, one tar in 15 MiB pieces
  rm -rf "$W/pack"
  python3 "$R/transport.py" pack "$W/export" "$W/pack" && tar -C "$W/pack" -cf - . | split -b 15M -d - "$OUT/model-pack.tar."
  say "packed export: $(du -sh "$W/pack" | cut -f1) in $(ls "$OUT" | grep -c model-pack) pieces"
fi
(cd "$R" && python3 fimeval.py --model "$W/export" --out "$W/fimeval_final.json")
say "fimeval (new model) exited $?"
say "end"
