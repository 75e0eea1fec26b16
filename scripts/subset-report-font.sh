#!/usr/bin/env bash
# Remakes crates/qcat-report/fonts/NotoSansSC-Subset.otf: Noto Sans CJK SC Regular from
# Debian's fonts-noto-cjk, cut down to ASCII/Latin-1, punctuation, arrows, math operators,
# Greek, CJK punctuation, full-width forms and the hanzi of GB 2312. Needs fonttools
# (pip install fonttools). Not part of the build: the output is committed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_font=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
chars="$(mktemp)"
trap 'rm -f "$chars"' EXIT
python3 - "$chars" <<'PY'
import sys
chars = set()
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            chars.add(bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
for start, end in [(0x20, 0x7F), (0xA0, 0x180), (0x2000, 0x206F), (0x2190, 0x21FF),
                   (0x2200, 0x22FF), (0x3000, 0x303F), (0xFF00, 0xFFEF), (0x391, 0x3CA),
                   (0x25A0, 0x25FF)]:
    chars.update(chr(cp) for cp in range(start, end))
open(sys.argv[1], "w", encoding="utf-8").write("".join(sorted(chars)))
PY
# Face 2 of the collection is the Simplified Chinese one.
pyftsubset "$source_font" --font-number=2 --text-file="$chars" --layout-features='' \
  --no-hinting --name-IDs='*' --output-file="$root/crates/qcat-report/fonts/NotoSansSC-Subset.otf"
