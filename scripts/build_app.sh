#!/usr/bin/env bash
# Build the one-folder app dist/workbench/ with PyInstaller (build.spec).
#   scripts/build_app.sh           build, print bundle size and build time
#   scripts/build_app.sh --smoke   build, then run the bundle headless (CLI + offscreen GUI)
#   scripts/build_app.sh --smoke-only   smoke-test an existing dist/workbench without rebuilding
# Exits non-zero if the build or any smoke check fails. Writes only to build/, dist/ and a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1 smoke=0
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=1 ;;
    --smoke-only) smoke=1 build=0 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build_app: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

PY=.venv/bin/python
APP=dist/workbench/workbench
[ -x "$PY" ] || { echo "build_app: .venv missing: run scripts/setup.sh first" >&2; exit 1; }

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$build" = 1 ]; then
  [ -x .venv/bin/pyinstaller ] || { echo "build_app: pyinstaller missing: run scripts/setup.sh" >&2; exit 1; }
  # The bundle copies torch and Qt (about 1.7 GB): say so plainly rather than fail mid-copy.
  free_mb=$(df -Pm . | awk 'NR == 2 { print $4 }')
  if [ "${free_mb:-0}" -lt 2500 ]; then
    echo "build_app: only ${free_mb} MB free on this disk; the build needs about 2,500 MB (bundle + work files)" >&2
    exit 1
  fi
  echo "build: pyinstaller $(.venv/bin/pyinstaller --version) -> dist/workbench"
  t0=$(now)
  log=build/pyinstaller.log
  mkdir -p build
  if ! .venv/bin/pyinstaller --noconfirm --clean --log-level WARN build.spec >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build: FAILED (full log: $log)" >&2
    exit 1
  fi
  # Known and harmless: Windows DLLs named in ctypes calls, GTK for the optional gtk3 theme.
  grep -E "WARNING|ERROR" "$log" | grep -v -E "required via ctypes not found|libg[dt]k-3\.so" \
    | sed 's/^[0-9]* /build: /' || true
  echo "build: done in $(secs "$t0" "$(now)") s (log: $log)"
fi
[ -x "$APP" ] || { echo "build_app: $APP not found" >&2; exit 1; }
# build.spec leaves out Qt plugins the app cannot use, with the libraries only they need:
# make sure no bundled binary still needs a Qt library that is not in the bundle.
if command -v readelf >/dev/null 2>&1; then
  missing=$(find dist/workbench \( -name '*.so' -o -name '*.so.*' \) -type f -exec readelf -d {} + 2>/dev/null \
    | sed -n 's/.*NEEDED.*\[\(libQt6[^]]*\)\].*/\1/p' | sort -u \
    | while read -r lib; do [ -e "dist/workbench/_internal/PySide6/Qt/lib/$lib" ] || echo "$lib"; done)
  if [ -n "$missing" ]; then
    echo "build: FAILED: bundled binaries need Qt libraries left out by build.spec: $missing" >&2
    exit 1
  fi
fi
echo "build: bundle size $(du -sh dist/workbench | cut -f1) ($(find dist/workbench -type f | wc -l) files)"

[ "$smoke" = 1 ] || exit 0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/workbench-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export WORKBENCH_DATA_DIR="$tmp/data"
export QT_QPA_PLATFORM=offscreen  # the CLI's PDF report paints with Qt; no display needed
failures=0
pass() { echo "smoke: PASS $*"; }
fail() { echo "smoke: FAIL $*"; failures=$((failures + 1)); }
show() { sed 's/^/smoke:   | /' "$1" | tail -n "${2:-25}"; }

# (a) the analyzers list: every built-in plugin must load in the frozen app.
echo "smoke: (a) $APP analyzers"
t0=$(now)
if timeout 120 "$APP" analyzers >"$tmp/a.out" 2>"$tmp/a.err"; then
  elapsed=$(secs "$t0" "$(now)")
  show "$tmp/a.out"
  ids=$(cut -f1 "$tmp/a.out" | paste -sd, -)
  if [ -s "$tmp/a.err" ]; then
    show "$tmp/a.err"; fail "(a) analyzers: some plugins failed to load (see above)"
  elif [ -z "$ids" ]; then
    fail "(a) analyzers: no analyzer listed"
  else
    pass "(a) analyzers: $ids (start to exit ${elapsed} s)"
  fi
else
  show "$tmp/a.out"; show "$tmp/a.err"; fail "(a) analyzers exited non-zero"
fi

# (b) analyze a JPEG made now from the bundled sample photo, JSON + PDF report.
echo "smoke: (b) $APP analyze <astronaut.jpg> --analyzers ${SMOKE_ANALYZERS:=metadata,ela}"
"$PY" - "$tmp/astronaut.jpg" <<'EOF'
import sys
from PIL import Image
Image.open("dist/workbench/_internal/skimage/data/astronaut.png").convert("RGB").save(sys.argv[1], quality=90)
EOF
t0=$(now)
if timeout 300 "$APP" analyze "$tmp/astronaut.jpg" --analyzers "$SMOKE_ANALYZERS" \
    --json "$tmp/out.json" --report "$tmp/out.pdf" --case "$tmp/case" >"$tmp/b.out" 2>"$tmp/b.err"; then
  pass "(b) analyze exited 0 in $(secs "$t0" "$(now)") s"
  expected=$(sha256sum "$tmp/astronaut.jpg" | cut -d' ' -f1)
  got=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["evidence"][0]["sha256"])' \
        "$tmp/out.json" 2>&1) || true
  statuses=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))
print(" ".join("%s=%s" % (r.get("analyzer"), r.get("status")) for r in d["evidence"][0]["results"]))' \
        "$tmp/out.json" 2>&1) || true
  if [ "$got" = "$expected" ]; then pass "(b) JSON sha256 = sha256sum = $expected ($statuses)"
  else fail "(b) JSON sha256 '$got' != sha256sum '$expected'"; fi
  if [ ! -s "$tmp/out.pdf" ]; then
    fail "(b) PDF report missing or empty"
  elif ! command -v pdftotext >/dev/null 2>&1; then
    fail "(b) pdftotext not found (apt-get install poppler-utils): cannot check the PDF report"
  else
    # pdftotext wraps long words and may emit the "ff" ligature (U+FB00): undo both.
    pdftotext "$tmp/out.pdf" "$tmp/out.txt" || true
    flat=$(sed 's/\xef\xac\x80/ff/g' "$tmp/out.txt" | tr -d ' \n\t\f')
    if [[ "$flat" == *"$expected"* ]]; then
      pass "(b) PDF report $(du -h "$tmp/out.pdf" | cut -f1) contains the SHA-256"
    else
      fail "(b) PDF report does not contain the SHA-256 (pdftotext)"
    fi
    # analyzer cards (plugins/**/*.md, bundled as data) are quoted in the report
    if grep -q "How to read it" "$tmp/out.txt"; then pass "(b) PDF report quotes the analyzer cards"
    else fail "(b) PDF report lacks the analyzer cards' 'How to read it' sections"; fi
  fi
else
  rc=$?
  show "$tmp/b.out"; show "$tmp/b.err"; fail "(b) analyze exited $rc"
fi

# (d) similar-image search and geolocation by retrieval: FAISS, the MobileNetV2 weights shipped in
# the bundle, GeoNames, the thresholds and the static map must all work frozen.
echo "smoke: (d) $APP index + search + analyze --analyzers geolocation (geotagged references)"
"$PY" - "$tmp" <<'EOF'
import sys
from pathlib import Path
from PIL import ExifTags, Image
tmp = Path(sys.argv[1])
(tmp / "refs").mkdir()
photo = Image.open("dist/workbench/_internal/skimage/data/astronaut.png").convert("RGB")
exif = Image.Exif()
exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 8.0)})
photo.save(tmp / "refs" / "paris.jpg", quality=90, exif=exif)
photo.crop((0, 0, 400, 512)).save(tmp / "refs" / "paris-crop.jpg", quality=80, exif=exif)
photo.crop((60, 40, 500, 500)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp / "query.jpg", quality=85)
EOF
if timeout 300 "$APP" index "$tmp/refs" --case "$tmp/case2" >"$tmp/d.out" 2>"$tmp/d.err" \
   && timeout 300 "$APP" search "$tmp/query.jpg" --case "$tmp/case2" --json "$tmp/hits.json" \
        >>"$tmp/d.out" 2>>"$tmp/d.err" \
   && timeout 300 "$APP" analyze "$tmp/query.jpg" --analyzers geolocation --case "$tmp/case2" \
        --json "$tmp/geo.json" --report "$tmp/geo.pdf" >>"$tmp/d.out" 2>>"$tmp/d.err"; then
  if summary=$("$PY" - "$tmp/hits.json" "$tmp/geo.json" 2>&1 <<'EOF'
import json, sys
hits = json.load(open(sys.argv[1]))["hits"]
geo = json.load(open(sys.argv[2]))["evidence"][0]["results"][0]
assert hits and hits[0]["inliers"] >= 8, hits[:1]
assert geo["status"] == "ok" and len(geo["scales"]) == 5, geo.get("message")
print("top hit %s (%d inliers); geolocation: %s" % (hits[0]["path"].rsplit("/", 1)[-1], hits[0]["inliers"],
                                                     geo["decision"]))
EOF
  ); then pass "(d) $summary"; else echo "$summary"; fail "(d) unexpected search or geolocation output"; fi
else
  show "$tmp/d.out"; show "$tmp/d.err"; fail "(d) index / search / geolocation exited non-zero"
fi

# (e) video: decoding (OpenCV's FFmpeg), per-frame analyses, faces (the bundled Haar cascades) and
# copy detection of a re-used part against a reference video, all in the frozen app.
echo "smoke: (e) $APP analyze <video> --analyzers metadata,ela,deepfake.faces; index + similarity.video_copy"
"$PY" - "$tmp" <<'EOF'
import sys
from pathlib import Path
from workbench.app.sample import write_sample_videos
write_sample_videos(Path(sys.argv[1]))
EOF
if timeout 300 "$APP" analyze "$tmp/astronaut_interview.mp4" --analyzers metadata,ela,deepfake.faces \
        --case "$tmp/case3" --json "$tmp/video.json" --report "$tmp/video.pdf" >"$tmp/e.out" 2>"$tmp/e.err" \
   && timeout 300 "$APP" index "$tmp/astronaut_interview.mp4" --case "$tmp/case3" >>"$tmp/e.out" 2>>"$tmp/e.err" \
   && timeout 300 "$APP" analyze "$tmp/reupload_with_caption.avi" --analyzers similarity.video_copy \
        --case "$tmp/case3" --json "$tmp/copy.json" >>"$tmp/e.out" 2>>"$tmp/e.err"; then
  if summary=$("$PY" - "$tmp/video.json" "$tmp/copy.json" 2>&1 <<'EOF'
import json, sys
results = {r["analyzer"]: r for r in json.load(open(sys.argv[1]))["evidence"][0]["results"]}
assert all(r["status"] == "ok" for r in results.values()), {k: r["message"] for k, r in results.items()}
assert results["ela"]["type"] == "series" and results["deepfake.faces"]["score"] >= 1, results["deepfake.faces"]
copy = json.load(open(sys.argv[2]))["evidence"][0]["results"][0]
assert copy["status"] == "ok" and copy["score"] is not None, copy.get("message")
print("per-frame ELA, %d face track(s), copied segment score %.2f" % (results["deepfake.faces"]["score"],
                                                                        copy["score"]))
EOF
  ); then pass "(e) $summary"; else echo "$summary"; fail "(e) unexpected video output"; fi
else
  show "$tmp/e.out"; show "$tmp/e.err"; fail "(e) video analyze / index / copy detection exited non-zero"
fi

# (c) the GUI opens the sample case offscreen and quits by itself.
echo "smoke: (c) QT_QPA_PLATFORM=offscreen $APP --quit-after-ms 1500 (sample case)"
t0=$(now)
if timeout 120 "$APP" --quit-after-ms 1500 >"$tmp/c.out" 2>&1; then
  if [ -f "$WORKBENCH_DATA_DIR/sample/case/case.sqlite" ]; then
    pass "(c) GUI opened the sample case and exited 0 in $(secs "$t0" "$(now)") s"
  else
    show "$tmp/c.out"; fail "(c) GUI exited 0 but the sample case was not created"
  fi
else
  rc=$?
  show "$tmp/c.out"; fail "(c) GUI exited $rc"
fi

if [ "$failures" -gt 0 ]; then
  echo "smoke: $failures check(s) FAILED"
  exit 1
fi
echo "smoke: all checks passed"
