#!/usr/bin/env bash
# Checks that every relative link in README.md, docs/*.md and the crates' README.md files resolves to an existing file, and
# that every #anchor names a heading of its target (GitHub's heading slugs, simplified).
# Usage: docs/check-links.sh [repo root]; exits 1 and lists each broken link.
set -u
cd "${1:-$(dirname "$0")/..}" || exit 2
broken=0

slug() { # lower-case, drop punctuation but - and _, spaces to -
  python3 -c 'import re,sys; t=sys.argv[1].strip().lower(); print(re.sub(r"[^\w\- ]","",t).replace(" ","-"))' "$1"
}
outside_code() { awk '/^```/ { fence = !fence; next } !fence' "$1"; }

for file in README.md docs/*.md functions/*/README.md tools/*/README.md; do
  [ -f "$file" ] || continue
  dir=$(dirname "$file")
  while read -r target; do
    case "$target" in http://* | https://* | mailto:*) continue ;; esac
    path=${target%%#*}
    anchor=""
    [[ "$target" == *"#"* ]] && anchor=${target#*#}
    resolved=$file
    [ -n "$path" ] && resolved="$dir/$path"
    if [ ! -e "$resolved" ]; then
      echo "broken: $file -> $target ($resolved does not exist)"
      broken=1
      continue
    fi
    if [ -n "$anchor" ]; then
      found=0
      while IFS= read -r heading; do
        [ "$(slug "$heading")" = "$anchor" ] && found=1 && break
      done < <(outside_code "$resolved" | sed -n 's/^#\{1,6\} //p')
      [ "$found" = 1 ] || { echo "broken: $file -> $target (no such heading)"; broken=1; }
    fi
  done < <(outside_code "$file" | grep -o '\]([^)]*)' | sed 's/^](//; s/)$//')
done

[ "$broken" = 0 ] && echo "every relative link in the Markdown files resolves"
exit "$broken"
