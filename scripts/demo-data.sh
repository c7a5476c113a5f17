#!/usr/bin/env bash
# The demo model's training text, from Debian packages (see README "Training" for their licenses):
#   fortunes, fortunes-min  the fortune cookie databases (BSD-4-Clause-UC: Berkeley fortune; the rest of the
#                           collection as listed in /usr/share/doc/fortunes/copyright)
#   bible-kjv-text, bible-kjv   the King James Bible (public domain text; the reader program is GPL-2+)
#   dict-devil              Ambrose Bierce's The Devil's Dictionary (public domain text)
# Writes OUT/train.txt and OUT/heldout.txt (default OUT=data/demo): documents (one fortune, one Bible chapter, one
# dictionary entry) separated by blank lines; every 20th document goes to the held-out file and nowhere else.
# Deterministic: the same packages give the same files.
set -euo pipefail
out=${1:-data/demo}
cd "$(dirname "$0")/.."
bash scripts/deps.sh fortunes fortunes-min bible-kjv-text bible-kjv dict-devil
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fortunes: one document per cookie (offensive ones are not installed by these packages)
for f in /usr/share/games/fortunes/*; do
  case "$f" in *.dat|*.u8) continue ;; esac
  [ -f "$f" ] || continue
  awk 'BEGIN { RS = "\n%\n" } { gsub(/\t/, "    "); if (length($0) > 0) printf "%s\n\x1e\n", $0 }' "$f"
done > "$tmp/fortunes"

# the Bible: one document per chapter, verse numbers removed, lines joined into paragraphs per verse
bible -p /usr/lib "Gen1:1-Rev22:21" 2>/dev/null | awk '
  /^[A-Z0-9][A-Za-z0-9 ]* [0-9]+$/ { if (doc != "") printf "%s\n\x1e\n", doc; doc = $0 "\n"; next }
  /^  *[0-9]+ / { sub(/^ *[0-9]+ /, ""); doc = doc "\n" $0; next }
  /^$/ { next }
  { doc = doc " " $0 }
  END { if (doc != "") printf "%s\n\x1e\n", doc }' > "$tmp/bible"

# The Devil's Dictionary: one document per entry (a line starting with an upper-case headword and a comma)
zcat /usr/share/dictd/devil.dict.dz | awk '
  /^[A-Z][A-Z'"'"' -]+, [a-z]/ { if (doc != "") printf "%s\n\x1e\n", doc; doc = $0; go = 1; next }
  go { doc = doc "\n" $0 }
  END { if (doc != "") printf "%s\n\x1e\n", doc }' > "$tmp/devil"

cat "$tmp/fortunes" "$tmp/bible" "$tmp/devil" | awk -v train="$out/train.txt" -v held="$out/heldout.txt" '
  BEGIN { RS = "\n\x1e\n"; n = 0 }
  { n++; sub(/\n+$/, ""); if (n % 20 == 0) printf "%s\n\n", $0 > held; else printf "%s\n\n", $0 > train }'
wc -c "$out/train.txt" "$out/heldout.txt" >&2
