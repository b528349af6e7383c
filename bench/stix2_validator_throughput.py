"""Measures the OASIS reference validator (PyPI `stix2-validator`) on a corpus written by
`cairn-bench validate`, for the side-by-side throughput figure.

Usage: stix2_validator_throughput.py OBJECTS.jsonl [--budget SECONDS] [--min-objects N] [--seed S]

OBJECTS.jsonl holds one STIX object per line. The objects are parsed before the clock starts
(only validation is timed, with time.perf_counter) and visited in a seeded random order, so that
when the whole file would take longer than the budget, the objects validated when it runs out
(at least --min-objects of them) are a uniform random subset. Prints one JSON object on stdout.

The options are those of conformance-tests/interop/stix2_validator_verdicts.py: STIX 2.1 MUSTs
only (best-practice checks off), custom types and properties allowed, references not enforced.
"""

import argparse
import contextlib
import importlib.metadata
import io
import json
import os
import random
import sys
import time

from stix2validator import validate_instance

# The options of the corpus agreement test, from the one place they are written.
sys.path.insert(
    0,
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "conformance-tests", "interop"),
)
from stix2_validator_verdicts import options  # noqa: E402


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--min-objects", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv[1:])

    with open(args.path, encoding="utf-8") as f:
        objects = [json.loads(line) for line in f if line.strip()]
    order = list(range(len(objects)))
    random.Random(args.seed).shuffle(order)
    opts = options()

    accepted = 0
    rejected = []
    validated = 0
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        start = time.perf_counter()
        for i in order:
            obj = objects[i]
            try:
                result = validate_instance(obj, opts)
                ok = result.is_valid
                error = "" if ok else (str(result.errors[0]) if result.errors else "invalid")
            except Exception as e:  # the validator failed on this input: not accepted
                ok, error = False, f"{type(e).__name__}: {e}"
            validated += 1
            if ok:
                accepted += 1
            elif len(rejected) < 5:
                rejected.append({"id": obj.get("id"), "error": " ".join(error.split())})
            if validated >= args.min_objects and time.perf_counter() - start > args.budget:
                break
        seconds = time.perf_counter() - start

    print(
        json.dumps(
            {
                "validator": "stix2-validator " + importlib.metadata.version("stix2-validator"),
                "python": sys.version.split()[0],
                "total": len(objects),
                "validated": validated,
                "seconds": seconds,
                "objects_per_second": validated / seconds if seconds > 0 else 0.0,
                "accepted": accepted,
                "rejected": rejected,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
