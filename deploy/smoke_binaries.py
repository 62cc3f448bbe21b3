#!/usr/bin/env python3
"""Runs the five service binaries with compose's environment, without containers.

What compose would start, minus the engine: each service's `environment`
from `docker-compose config --format json`, with the compose host names
mapped to this machine (postgres -> --postgres-url, peers -> 127.0.0.1 at
--port-offset from their ports, jaeger -> 127.0.0.1:4317, the key volume
/var/lib/csm/keys -> --keys-dir, filled by `csm keys generate` as compose's
`keys` service would). Then `csm health`
is polled on each until SERVING (migrations ran in each service's schema),
every process gets SIGTERM and must exit 0 in time (graceful drain).

    docker-compose -f deploy/compose.yaml config --format json > compose.json
    deploy/smoke_binaries.py --compose compose.json --bin-dir target/debug \
        --postgres-url postgres://postgres@127.0.0.1:5432/csm_smoke

Needs an existing, empty (or earlier-smoked) database; binaries built with
`cargo build --bin csm --bin csm-identity --bin csm-role --bin csm-account-team
--bin csm-case-access --bin csm-licensing`.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SERVICES = ["identity", "role", "account-team", "licensing", "case-access"]


KEY_VOLUME = "/var/lib/csm/keys"


def local_environment(environment, postgres_url, offset, keys_dir):
    """compose's environment of one service, with host names and the key volume mapped to this machine."""
    mapped = {}
    for name, value in environment.items():
        value = "" if value is None else str(value)
        if name == "CSM_DATABASE_URL":
            schema = value.split("csm_schema=")[-1]
            separator = "&" if "?" in postgres_url else "?"
            value = f"{postgres_url}{separator}csm_schema={schema}"
        else:
            value = re.sub(r"http://(identity|role|account-team|case-access|licensing):(\d+)",
                           lambda match: f"http://127.0.0.1:{int(match.group(2)) + offset}", value)
            value = value.replace("http://jaeger:4317", "http://127.0.0.1:4317")
            value = value.replace(KEY_VOLUME + "/", f"{keys_dir}/")
        mapped[name] = value
    return mapped


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compose", type=Path, required=True)
    parser.add_argument("--bin-dir", type=Path, required=True)
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--port-offset", type=int, default=8000, help="added to 50051..50055 (avoid clashes)")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--keys-dir", type=Path, default=Path("/tmp/csm-smoke-keys"),
                        help="stands in for compose's key volume; `csm keys generate` fills it when empty")
    args = parser.parse_args()

    keys_dir = args.keys_dir.resolve()
    if not (keys_dir / "public/service-jwks.json").exists():
        subprocess.run([str(args.bin_dir / "csm"), "keys", "generate", "--out", str(keys_dir)], check=True,
                       stdout=subprocess.DEVNULL)

    services = json.loads(args.compose.read_text())["services"]
    processes = {}
    ports = {}
    logs = {}
    try:
        for service in SERVICES:
            definition = services[service]
            port = definition["ports"][0]["target"] + args.port_offset
            ports[service] = port
            environment = local_environment(definition.get("environment", {}), args.postgres_url, args.port_offset,
                                            keys_dir)
            environment["CSM_LISTEN_ADDR"] = f"127.0.0.1:{port}"
            environment["PATH"] = os.environ.get("PATH", "")
            binary = args.bin_dir / definition["command"][0]
            logs[service] = open(f"/tmp/csm-smoke-{service}.log", "w")
            processes[service] = subprocess.Popen([str(binary)], env=environment, stdout=logs[service],
                                                  stderr=subprocess.STDOUT)
            print(f"started {service} ({binary.name}) on 127.0.0.1:{port}, log /tmp/csm-smoke-{service}.log")

        deadline = time.monotonic() + args.timeout
        pending = list(SERVICES)
        while pending and time.monotonic() < deadline:
            for service in list(pending):
                if processes[service].poll() is not None:
                    print(f"FAIL {service} exited with {processes[service].returncode}")
                    return 1
                check = subprocess.run([str(args.bin_dir / "csm"), "health", "--addr", f"127.0.0.1:{ports[service]}"],
                                       capture_output=True, text=True)
                if check.returncode == 0:
                    print(f"{service}: {check.stdout.strip()} (csm health)")
                    pending.remove(service)
            time.sleep(0.5)
        if pending:
            print(f"FAIL not SERVING within {args.timeout} s: {pending}")
            return 1
    finally:
        for service, process in processes.items():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        failed = False
        for service, process in processes.items():
            try:
                code = process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                code = "killed after 40 s"
            if code != 0:
                failed = True
            print(f"{service}: exit {code} after SIGTERM")
        for log in logs.values():
            log.close()
        if failed:
            print("FAIL a service did not stop cleanly on SIGTERM")
            return 1
    print("smoke: all five SERVING on PostgreSQL (a schema each), stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
