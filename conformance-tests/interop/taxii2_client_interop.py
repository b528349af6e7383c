#!/usr/bin/env python3
"""Interoperability checks: drive a running Cairn TAXII 2.1 server with the
OASIS Python client (taxii2-client, module taxii2client.v21), plus one bulk
push done with curl.

Usage:
    python taxii2_client_interop.py --url http://127.0.0.1:PORT --api-root acme \
        --collection-alias finance-isac --user acme-soc --password PW \
        [--curl /usr/bin/curl] [--seed SEED]

Prints "ok <name>" or "FAIL <name>: <reason>" for every check, then a final
line "N passed, M failed". Exits 0 only if every check passed.
"""

import argparse
import collections
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import uuid

import requests  # installed with taxii2-client; its HTTP errors are requests.HTTPError
from taxii2client.common import TokenAuth
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

MEDIA_TYPE = "application/taxii+json;version=2.1"
PAGE_SIZE = 100
BULK_COUNT = 1000
MAX_PAGES = 10_000  # guard against a server that never stops saying more=true
V1 = "2026-01-01T00:00:00.000Z"
V2 = "2026-01-02T00:00:00.000Z"


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def need(state, key, check):
    """Later checks reuse what earlier ones produced; fail clearly if absent."""
    if key not in state:
        raise CheckFailed(f"not run: depends on check '{check}', which failed")
    return state[key]


def describe(exc):
    if isinstance(exc, CheckFailed):
        return str(exc)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        resp = exc.response
        return (f"HTTP {resp.status_code} from {resp.request.method} {resp.url}: "
                f"{resp.text[:300]}")
    return f"{type(exc).__name__}: {exc}"


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def parse_ts(value):
    # Compare timestamps as instants so that "…00Z" and "…00.000Z" are equal.
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def stix_ts(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def indicator(obj_id, name, modified=V1):
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": obj_id,
        "created": V1,
        "modified": modified,
        "name": name,
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "valid_from": V1,
    }


def bulk_objects(seed):
    """BULK_COUNT distinct objects, fully determined by the seed.

    UUIDs come from a seeded RNG (shaped as valid v4 UUIDs) so a run can be
    reproduced with --seed, while the default fresh seed keeps repeated runs
    against a persistent store from colliding with earlier runs' objects.
    """
    rng = random.Random(seed)
    base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    objects = []
    for i in range(BULK_COUNT):
        kind = ("indicator", "malware", "identity")[i % 3]
        ts = stix_ts(base + datetime.timedelta(seconds=i, milliseconds=i % 1000))
        obj = {
            "type": kind,
            "spec_version": "2.1",
            "id": f"{kind}--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            "created": ts,
            "modified": ts,
        }
        if kind == "indicator":
            obj.update(name=f"bulk indicator {i}",
                       pattern=f"[ipv4-addr:value = '198.51.100.{i % 256}']",
                       pattern_type="stix", valid_from=ts)
        elif kind == "malware":
            # Non-ASCII text checks that the server round-trips UTF-8 intact.
            obj.update(name=f"bulk malware {i}", is_family=False,
                       description="Übersicht: naïve dropper ☠",
                       malware_types=["dropper", "trojan"])
        else:
            obj.update(name=f"bulk identity {i}", identity_class="organization")
        objects.append(obj)
    return objects


def collect_pages(func, **filters):
    """Read every page through taxii2client's as_pages; return (items, page sizes).

    as_pages keeps requesting while a page says more=true, passing that page's
    `next`; if `next` is missing it would re-fetch the first page forever, so
    check that here before asking the generator for another page.
    """
    items, sizes = [], []
    for page in as_pages(func, per_request=PAGE_SIZE, **filters):
        page_items = page.get("objects", [])
        items.extend(page_items)
        sizes.append(len(page_items))
        if page.get("more"):
            expect(page.get("next"), f"page {len(sizes)} has more=true but no next")
            expect(len(sizes) < MAX_PAGES, f"still more=true after {MAX_PAGES} pages")
    return items, sizes


# --- checks -----------------------------------------------------------------


def check_discovery(args, state):
    server = Server(args.url + "/taxii2/", user=args.user, password=args.password)
    expect(server.title, "discovery title is empty")
    raw_roots = server._raw.get("api_roots", [])  # as sent, before the client adds "/"
    suffix = f"/{args.api_root}/"
    expect(len(raw_roots) == 1 and len(server.api_roots) == 1,
           f"expected exactly one api root, got {raw_roots}")
    expect(raw_roots[0].endswith(suffix), f"api root {raw_roots[0]!r} does not end with {suffix!r}")
    # The client only sets .default when the raw string equals an api_roots entry.
    expect(server.default is server.api_roots[0],
           f"default {server._raw.get('default')!r} is not the api root {raw_roots[0]!r}")


def check_api_root(args, state):
    root = ApiRoot(f"{args.url}/{args.api_root}/", user=args.user, password=args.password)
    expect(MEDIA_TYPE in root.versions, f"versions {root.versions} lacks {MEDIA_TYPE}")
    mcl = root.max_content_length
    expect(type(mcl) is int and mcl > 0, f"max_content_length {mcl!r} is not a positive int")
    found = [c for c in root.collections if c.alias == args.collection_alias]
    expect(len(found) == 1, f"expected one collection with alias {args.collection_alias!r}, "
                            f"got {len(found)} among {[c.alias for c in root.collections]}")
    coll = found[0]
    expect(coll.can_read is True and coll.can_write is True,
           f"can_read={coll.can_read!r} can_write={coll.can_write!r}")
    state["collection"] = coll


def check_add_objects(args, state):
    coll = need(state, "collection", "api_root")
    objects = [indicator(f"indicator--{uuid.uuid4()}", f"interop indicator {n}") for n in range(3)]
    status = coll.add_objects({"objects": objects}, wait_for_completion=True,
                              poll_interval=0.5, timeout=30)
    got = (status.status, status.success_count, status.failure_count, status.pending_count)
    expect(got == ("complete", 3, 0, 0),
           f"(status, success, failure, pending) = {got}; status resource: {status._raw}")
    state["added"] = objects


def check_get_objects_match_id(args, state):
    coll = need(state, "collection", "api_root")
    target = need(state, "added", "add_objects")[0]
    envelope = coll.get_objects(id=target["id"])  # sent as match[id]=<id>
    got = envelope.get("objects", [])
    expect(got == [target], f"expected exactly {target}, got {got}")


def check_bulk_push_curl(args, state):
    coll = need(state, "collection", "api_root")
    objects = bulk_objects(args.seed)
    lines = [compact(o) for o in objects]  # ASCII only: json.dumps escapes non-ASCII
    body = '{"objects":[' + ",".join(lines) + "]}"
    url = f"{args.url}/{args.api_root}/collections/{coll.id}/objects/"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "envelope.json")
        with open(path, "w", encoding="ascii") as f:
            f.write(body)
        proc = subprocess.run(
            [args.curl, "-sS", "--max-time", "120",
             "-u", f"{args.user}:{args.password}",
             "-H", f"Accept: {MEDIA_TYPE}", "-H", f"Content-Type: {MEDIA_TYPE}",
             "--data-binary", f"@{path}",
             "-w", "\n%{http_code}",  # status code on its own last line
             url],
            capture_output=True, text=True, timeout=180)
    expect(proc.returncode == 0, f"curl exited {proc.returncode}: {proc.stderr.strip()}")
    text, _, code = proc.stdout.rpartition("\n")
    expect(code == "202", f"HTTP {code} for a {len(body)}-byte envelope: {text[:300]}")
    status = json.loads(text)
    got = (status.get("status"), status.get("success_count"), status.get("failure_count"))
    expect(got == ("complete", BULK_COUNT, 0),
           f"(status, success, failure) = {got}; expected ('complete', {BULK_COUNT}, 0)")
    state["bulk"] = (objects, lines)


def check_bulk_read_as_pages(args, state):
    coll = need(state, "collection", "api_root")
    objects, lines = need(state, "bulk", "bulk_push_curl")
    got, sizes = collect_pages(coll.get_objects)
    oversized = [n for n in sizes if n > PAGE_SIZE]
    expect(not oversized, f"pages larger than {PAGE_SIZE}: {oversized}")

    # The collection may hold other objects (e.g. from add_objects); look at ours.
    wanted = [o["id"] for o in objects]
    wanted_set = set(wanted)
    ours = [o for o in got if o.get("id") in wanted_set]
    counts = collections.Counter(o["id"] for o in ours)
    dups = sorted(i for i, n in counts.items() if n > 1)
    missing = [i for i in wanted if i not in counts]
    expect(not dups and not missing,
           f"{len(dups)} duplicated, {len(missing)} missing of {BULK_COUNT} "
           f"({len(got)} objects over {len(sizes)} pages)")
    # All posted in one envelope, so date_added order is posting order.
    order = [o["id"] for o in ours]
    if order != wanted:
        first = next(i for i, (a, b) in enumerate(zip(order, wanted)) if a != b)
        raise CheckFailed(f"order differs from posting order at index {first}: "
                          f"got {order[first]}, expected {wanted[first]}")
    for i, (sent, obj) in enumerate(zip(lines, ours)):
        back = compact(obj)
        expect(back == sent, f"object {i} not byte-identical: sent {sent} | got {back}")


def check_manifest(args, state):
    coll = need(state, "collection", "api_root")
    objects, _ = need(state, "bulk", "bulk_push_curl")
    records, sizes = collect_pages(coll.get_manifest, type="malware")  # match[type]=malware
    not_malware = [r.get("id") for r in records if not str(r.get("id", "")).startswith("malware--")]
    expect(not not_malware, f"type filter leaked: {not_malware[:5]}")
    fields = ("id", "date_added", "version", "media_type")
    incomplete = [r for r in records if not all(k in r for k in fields)]
    expect(not incomplete, f"records missing one of {fields}: {incomplete[:3]}")

    posted = {o["id"]: o["modified"] for o in objects if o["type"] == "malware"}
    ours = [r for r in records if r["id"] in posted]
    counts = collections.Counter(r["id"] for r in ours)
    expect(len(ours) == len(posted) and len(counts) == len(posted),
           f"{len(ours)} records ({len(counts)} distinct) for the {len(posted)} malware "
           f"objects posted; {len(records)} malware records in total over {len(sizes)} pages")
    wrong = [r for r in ours if parse_ts(r["version"]) != parse_ts(posted[r["id"]])]
    expect(not wrong, f"manifest version differs from modified: {wrong[:3]}")


def check_versions(args, state):
    coll = need(state, "collection", "api_root")
    v1 = need(state, "added", "add_objects")[0]
    v2 = dict(v1, modified=V2, name=v1["name"] + " (v2)")  # same id, later modified
    status = coll.add_objects({"objects": [v2]}, wait_for_completion=True,
                              poll_interval=0.5, timeout=30)
    expect(status.status == "complete" and status.success_count == 1,
           f"adding second version: {status._raw}")

    versions = coll.object_versions(v1["id"]).get("versions", [])
    expect([parse_ts(v) for v in versions] == [parse_ts(V1), parse_ts(V2)],
           f"object_versions returned {versions}, expected [{V1}, {V2}]")
    latest = coll.get_object(v1["id"]).get("objects", [])
    expect(latest == [v2], f"get_object without version: expected only v2, got {latest}")
    both = coll.get_object(v1["id"], version="all").get("objects", [])  # match[version]=all
    expect(both == [v1, v2], f"get_object version=all: expected [v1, v2], got {both}")


def check_delete(args, state):
    coll = need(state, "collection", "api_root")
    obj_id = need(state, "added", "add_objects")[0]["id"]
    coll.delete_object(obj_id)  # raises requests.HTTPError on a non-2xx answer
    try:
        envelope = coll.get_object(obj_id)
    except requests.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else None
        expect(code == 404, f"expected HTTP 404 after delete, got {describe(exc)}")
        return
    raise CheckFailed(f"object still retrievable after delete: {envelope}")


def check_token_auth(args, state):
    """A read-only API token, sent as taxii2-client's TokenAuth (`Authorization: Token`) and as
    the Basic password: the same pages as the user's password; writing is refused."""
    coll = need(state, "collection", "api_root")
    objects, _ = need(state, "bulk", "bulk_push_curl")
    wanted = {o["id"] for o in objects}
    by_token = Collection(coll.url, auth=TokenAuth(args.token))
    by_basic = Collection(coll.url, user=args.user, password=args.token)
    for name, c in [("TokenAuth", by_token), ("Basic", by_basic)]:
        got, _ = collect_pages(c.get_objects)
        ours = [o["id"] for o in got if o.get("id") in wanted]
        expect(len(ours) == len(wanted), f"{name}: {len(ours)} of {len(wanted)} objects")
    expect(by_token.can_read is True and by_token.can_write is False,
           f"a read-only token: can_read={by_token.can_read!r} can_write={by_token.can_write!r}")
    # The client refuses on its own (can_write is false); the server refuses too.
    resp = requests.post(coll.url + "objects/", data=json.dumps({"objects": [objects[0]]}),
                         headers={"Authorization": f"Token {args.token}",
                                  "Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE})
    expect(resp.status_code == 403, f"a read-only token's POST: expected 403, got "
                                    f"{resp.status_code} {resp.text[:200]}")


CHECKS = [
    ("discovery", check_discovery),
    ("api_root", check_api_root),
    ("add_objects", check_add_objects),
    ("get_objects_match_id", check_get_objects_match_id),
    ("bulk_push_curl", check_bulk_push_curl),
    ("bulk_read_as_pages", check_bulk_read_as_pages),
    ("token_auth", check_token_auth),
    ("manifest", check_manifest),
    ("versions", check_versions),
    ("delete", check_delete),
]


def main():
    parser = argparse.ArgumentParser(
        description="Interop checks of a TAXII 2.1 server against taxii2-client.")
    parser.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--api-root", required=True)
    parser.add_argument("--collection-alias", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--token", required=True, help="a read-only API token of --user")
    parser.add_argument("--curl", default="curl", help="curl executable (default: from PATH)")
    parser.add_argument("--seed", default=None, help="seed for the bulk objects (default: fresh)")
    args = parser.parse_args()
    args.url = args.url.rstrip("/")
    args.api_root = args.api_root.strip("/")
    if args.seed is None:
        args.seed = uuid.uuid4().hex
    print(f"bulk seed: {args.seed}", file=sys.stderr)  # rerun with --seed to reproduce

    state, passed, failed = {}, 0, 0
    for name, check in CHECKS:
        try:
            check(args, state)
        except Exception as exc:  # any exception fails this check only
            failed += 1
            print(f"FAIL {name}: {describe(exc)}", flush=True)
        else:
            passed += 1
            print(f"ok {name}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
