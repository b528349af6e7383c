"""Records the verdicts of the OASIS reference validator (PyPI `stix2-validator`) on the STIX
agreement corpus, so that tests/stix_corpus.rs can compare them with the expected verdicts.

Usage: stix2_validator_verdicts.py CORPUS_DIR

CORPUS_DIR holds valid/*.json and invalid/*.json, one STIX object per file. For every file this
prints exactly one line, sorted, and nothing else on stdout:

    valid/<name>.json accept
    invalid/<name>.json reject <first error message, on one line>

Options given to the validator, and why:
- version="2.1": every object is judged by the STIX 2.1 rules, whatever its own spec_version
  says (an object claiming "2.0" must be refused, not validated as 2.0).
- strict=False and disabled="all": the verdict rests on the specification's MUSTs only. SHOULD
  findings ("best practices": vocabulary values, x_ prefixes, UUID versions, ...) are never
  errors in STIX 2.1, so they are switched off rather than reported. Disabling "all" (and not
  just some codes) also keeps the validator from turning its custom-prefix SHOULDs into pattern
  errors, which it does only when 'extensions-use' is disabled while 'custom-prefix' is not.
- strict_types=False, strict_properties=False: custom object types and custom properties are
  allowed by STIX 2.1 (sections 7.3 and 11), so they must not be refused as such.
- enforce_refs=False: a single object is judged on its own; section 3.3 lets references point to
  objects the consumer does not have.
- interop=False: the interoperability profile adds requirements (e.g. created_by_ref) that the
  specification does not make.
"""

import contextlib
import io
import json
import os
import sys

from stix2validator import ValidationOptions, validate_instance
from stix2validator.errors import ValidationError


def options():
    return ValidationOptions(
        version="2.1",
        strict=False,
        disabled="all",
        strict_types=False,
        strict_properties=False,
        enforce_refs=False,
        interop=False,
        silent=True,
    )


def one_line(text):
    return " ".join(str(text).split())


def verdict(path, opts):
    """Returns (accepted, first error message)."""
    with open(path, encoding="utf-8") as f:
        obj = json.load(f)
    try:
        result = validate_instance(obj, opts)
    except ValidationError as e:
        # Raised before any check when the input has no 'type' or 'id'.
        return False, one_line(e) or type(e).__name__
    except Exception as e:  # the validator itself failed on this input: it did not accept it
        return False, one_line(f"{type(e).__name__}: {e}")
    if result.is_valid:
        return True, ""
    errors = [one_line(e) for e in result.errors]
    return False, errors[0] if errors else "(no message)"


def main(argv):
    if len(argv) != 2:
        print("usage: stix2_validator_verdicts.py CORPUS_DIR", file=sys.stderr)
        return 2
    corpus = argv[1]
    opts = options()
    lines = []
    for kind in ("valid", "invalid"):
        folder = os.path.join(corpus, kind)
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".json"):
                continue
            # The validator's own progress output must not reach our stdout.
            with contextlib.redirect_stdout(io.StringIO()):
                accepted, message = verdict(os.path.join(folder, name), opts)
            line = f"{kind}/{name} {'accept' if accepted else 'reject'}"
            if not accepted:
                line += " " + message
            lines.append(line)
    for line in sorted(lines):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
