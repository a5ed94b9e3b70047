#!/usr/bin/env python3
"""Times parsedmarc.parse_report_file over every file in a directory (tlswatch-bench ingest)."""
import os
import sys
import time

try:
    import parsedmarc
except ImportError:
    print("parsedmarc-missing")
    sys.exit(0)

directory = sys.argv[1]
files = sorted(os.path.join(directory, f) for f in os.listdir(directory))
ok = 0
start = time.perf_counter()
for path in files:
    try:
        parsedmarc.parse_report_file(path, offline=True)
        ok += 1
    except Exception:  # noqa: BLE001 - count failures, keep timing
        pass
elapsed = time.perf_counter() - start
print(f"{elapsed:.6f} {ok} {len(files)}")
