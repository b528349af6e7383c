#!/usr/bin/env python3
"""Replays the hostile probes of issue 18 against a real `cairn serve` and reports the server's
memory after each, and whether it still answers. Standard library only; loopback only; every
loop bounded.

    cargo build --release && python3 bench/hostile_probes.py target/release/cairn

The server runs on a fresh SQLite database in a temporary directory with the default config
(plus `[server] bind` on a free port). Figures: VmRSS after each probe and VmHWM (peak) at the
end, from /proc/PID/status.
"""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

TAXII = "application/taxii+json;version=2.1"
COLL = "2f0e4c8e-6b1a-4c55-9d8e-6f1b7e0a9c11"
PASSWORD = "probe password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, user="cert-ops", password=PASSWORD, timeout=120):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req.add_header("Authorization", f"Basic {token}")
    req.add_header("Accept", TAXII)
    if body is not None:
        req.add_header("Content-Type", TAXII)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def memory(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields["VmRSS"], fields["VmHWM"]


def indicator(pattern, n=0):
    return {
        "type": "indicator", "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "name": f"probe {n}",
    }


def envelope(objects):
    return json.dumps({"objects": objects}).encode()


def probes():
    objects = f"/cert/collections/{COLL}/objects/"
    yield "OR chain of 44,500 comparisons (846 KB)", "POST", objects, envelope(
        [indicator("[" + " OR ".join(["ipv4-addr:value = '198.51.100.1'"] * 44_500) + "]")])
    yield "AND chain of 33,600 observations", "POST", objects, envelope(
        [indicator(" AND ".join(["[ipv4-addr:value = '1.2.3.4']"] * 33_600))])
    yield "AND chain of 20,000 comparisons", "POST", objects, envelope(
        [indicator("[" + " AND ".join(["aaa:b=1"] * 20_000) + "]")])
    yield "49-byte subroutine regex", "POST", objects, envelope(
        [indicator(r"[file:name MATCHES '(?<a>x\\g<a>\\g<a>\\g<a>|y)']")])
    yield "50 x ([a-z]{1000}){100}", "POST", objects, envelope(
        [indicator("[file:name MATCHES '([a-z]{1000}){100}']", n) for n in range(50)])
    yield "10 MB of 5 million non-objects", "POST", objects, (
        b'{"objects":[' + b",".join([b"0"] * 5_000_000) + b"]}")
    yield "100,000 non-objects (a 1,000-failure status)", "POST", objects, (
        b'{"objects":[' + b",".join([b"0"] * 100_000) + b"]}")
    big = "x" * (10 * 1024 * 1024 - 2048)
    for n in range(12):
        o = indicator("[file:name = 'a']", n)
        o["description"] = big
        yield f"10 MB object {n + 1} of 12", "POST", objects, envelope([o])
    yield "a default page over 12 objects of 10 MB", "GET", objects, None
    for n in range(4):
        yield f"100 wrong passwords ({n + 1} of 4)", "LOGINS", objects, None


def main():
    binary = os.path.abspath(sys.argv[1])
    port = free_port()
    work = tempfile.mkdtemp(prefix="cairn-probes-")
    config = os.path.join(work, "cairn.toml")
    with open(config, "w") as f:
        f.write(f'[server]\nbind = "127.0.0.1:{port}"\n\n[storage]\nurl = "sqlite://{work}/cairn.db"\n')
    setup = os.path.join(work, "setup.toml")
    with open(setup, "w") as f:
        f.write(
            '[[partner]]\nid = "cert"\ntitle = "CERT"\n\n'
            '[[user]]\nname = "cert-ops"\npartner = "cert"\npassword = "env:PROBE_PASSWORD"\n\n'
            f'[[community]]\nid = "probes"\ncollection = "{COLL}"\ntitle = "Probes"\n\n'
            '[[community.member]]\npartner = "cert"\nrole = "moderator"\nmax_tlp = "red"\n')
    env = dict(os.environ, PROBE_PASSWORD=PASSWORD)
    subprocess.run([binary, "apply", setup, "--config", config], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen([binary, "serve", "--config", config], stdout=log, stderr=log)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        print(f"| probe | answer | seconds | server VmRSS after |")
        print(f"| --- | --- | ---: | ---: |")
        for name, method, path, body in probes():
            started = time.time()
            if method == "LOGINS":
                codes = {request(port, "GET", path, password=f"wrong {i}")[0] for i in range(100)}
                answer = ",".join(str(c) for c in sorted(codes))
            else:
                status, text = request(port, method, path, body)
                answer = str(status)
                if status == 202:
                    st = json.loads(text)
                    answer += f" ({st['success_count']} stored, {st['failure_count']} refused, {len(text):,} bytes)"
                elif method == "GET":
                    answer += f" ({len(text):,} bytes, {len(json.loads(text).get('objects', []))} objects)"
            rss, _ = memory(server.pid)
            print(f"| {name} | {answer} | {time.time() - started:.2f} | {rss} |", flush=True)
        status, _ = request(port, "GET", f"/cert/collections/{COLL}/")
        _, peak = memory(server.pid)
        print(f"\nstill serving: {status == 200}; peak VmHWM {peak}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
