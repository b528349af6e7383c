#!/bin/sh
# Times `cairn import` of one file into a fresh SQLite database set up like compare's, under
# /usr/bin/time -v (peak RSS). Write the file and the setup with `cairn-bench corpus`:
#   target/release/cairn-bench corpus --objects 1000000 --format bundle --out F --setup-dir DIR
#   bench/import-run.sh target/release/cairn F DIR
# Refusals (stdout) go to DIR/refusals.txt, progress (stderr) to DIR/progress.txt.
set -eu
cairn=$1 file=$2 dir=$3
rm -f "$dir/cairn.db" "$dir/cairn.db-wal" "$dir/cairn.db-shm"
"$cairn" apply "$dir/setup.toml" --config "$dir/cairn.toml" > /dev/null
start=$(date +%s.%N)
rc=0
/usr/bin/time -v -o "$dir/time.txt" "$cairn" import "$file" --community compare --as cert-bot \
  --config "$dir/cairn.toml" > "$dir/refusals.txt" 2> "$dir/progress.txt" || rc=$?
end=$(date +%s.%N)
summary=$(grep '^imported' "$dir/refusals.txt" || true)
objects=$(echo "$summary" | sed -n 's/^imported \([0-9]*\) objects.*/\1/p')
echo "file: $file ($(stat -c %s "$file") bytes), exit status $rc"
echo "$summary"
echo "wall: $(echo "$end - $start" | bc) s; objects/s: $(echo "$objects / ($end - $start)" | bc)"
grep -E 'Maximum resident|User time|System time|Elapsed' "$dir/time.txt"
echo "database: $(du -cb "$dir"/cairn.db* | tail -1 | cut -f1) bytes ($(ls "$dir"/cairn.db* | xargs -n1 basename | tr '\n' ' '))"
echo "refusals by reason:"
grep '^refused' "$dir/refusals.txt" | sed 's/^refused [^ ]* [^ ]*: //' | sort | uniq -c | sort -rn | head -5
echo "progress (stderr, $(wc -l < "$dir/progress.txt") lines), first 3 and last 3:"
head -3 "$dir/progress.txt"
echo ...
tail -3 "$dir/progress.txt"
