#!/usr/bin/env python3
"""Checks of deploy/ that a schema cannot make, against the Rust sources.

Run by scripts/validate-deploy.sh after the schema validation:

    check_manifests.py --repo ROOT --compose COMPOSE.json \
        --manifests base=BASE.yaml --manifests production=PROD.yaml

- every variable the manifests and compose set is one the services read
  (names taken from shared/server, shared/telemetry and the services' lib.rs),
  and each service gets the variables it needs (database URL, keys, the URLs
  of the peers it calls, the OTLP endpoint);
- the call graph the NetworkPolicies allow (and compose wires) is exactly the
  one in each service's lib.rs `run()` (its peer channels);
- ports are the services' default ports;
- every Deployment: gRPC readiness and liveness probes on its port, cpu and
  memory requests and limits, non-root, read-only root file system, no
  privilege escalation, all capabilities dropped;
- HPA, PDBs and Secrets reference what exists; the production overlay carries
  no placeholder Secret and no development image.

Exit code 1 with one line per problem.
"""

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

SERVICES = ["identity", "role", "account-team", "case-access", "licensing"]
CAMEL = {"Identity": "identity", "Role": "role", "AccountTeam": "account-team",
         "CaseAccess": "case-access", "Licensing": "licensing"}


def peer_variable(service):
    return "CSM_%s_URL" % service.replace("-", "_").upper()


def read_sources(repo):
    """Variables read, default ports and the call graph, from the Rust sources."""
    read_files = [repo / "shared/server/src/config.rs", repo / "shared/telemetry/src/lib.rs"]
    read_files += [repo / f"services/{service}/src/lib.rs" for service in SERVICES]
    known = {peer_variable(service) for service in SERVICES}
    for path in read_files:
        text = path.read_text()
        known |= set(re.findall(r'"((?:CSM|OTEL)_[A-Z0-9_]+|RUST_LOG)"', text))
    # Variables only the test harness reads are not for deployments.
    known.discard("CSM_TEST_POSTGRES_URL")

    config = (repo / "shared/server/src/config.rs").read_text()
    ports = {CAMEL[name]: int(port) for name, port in re.findall(r"ServiceName::(\w+) => (\d+)", config)}

    calls = {}
    for service in SERVICES:
        text = (repo / f"services/{service}/src/lib.rs").read_text()
        run = text[text.index("pub async fn run("):]
        peers = re.findall(r"peer(?:_channel)?\(\s*(?:config\.peers\.url\(\s*)?ServiceName::(\w+)", run)
        calls[service] = sorted({CAMEL[peer] for peer in peers})
    return known, ports, calls


class Problems:
    def __init__(self):
        self.items = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")


def env_names(container):
    return [entry["name"] for entry in container.get("env", [])]


def check_manifests(label, documents, known, ports, calls, problems):
    by_kind = {}
    for document in documents:
        by_kind.setdefault(document["kind"], []).append(document)
    configmaps = {doc["metadata"]["name"]: doc.get("data", {}) for doc in by_kind.get("ConfigMap", [])}
    secrets = {doc["metadata"]["name"]: doc for doc in by_kind.get("Secret", [])}
    deployments = {doc["metadata"]["name"]: doc for doc in by_kind.get("Deployment", [])}

    if sorted(deployments) != sorted(SERVICES):
        problems.add(label, f"Deployments {sorted(deployments)} are not the five services")
    for name, data in configmaps.items():
        for key in data:
            if key not in known:
                problems.add(f"{label} ConfigMap {name}", f"{key} is not a variable the services read")

    for service, deployment in deployments.items():
        where = f"{label} Deployment {service}"
        pod = deployment["spec"]["template"]["spec"]
        labels = deployment["spec"]["template"]["metadata"].get("labels", {})
        if labels.get("app.kubernetes.io/part-of") != "csm-access-suite":
            problems.add(where, "pods lack app.kubernetes.io/part-of: csm-access-suite (the NetworkPolicies select it)")
        pod_security = pod.get("securityContext", {})
        if pod_security.get("runAsNonRoot") is not True:
            problems.add(where, "pod securityContext.runAsNonRoot must be true")
        if pod.get("automountServiceAccountToken") is not False:
            problems.add(where, "automountServiceAccountToken must be false (the services never call the API server)")
        container = pod["containers"][0]
        port = ports.get(service)
        container_ports = [entry["containerPort"] for entry in container.get("ports", [])]
        # gRPC, then the metrics endpoint (CSM_METRICS_ADDR default: gRPC port + 1000).
        if container_ports != [port, port + 1000]:
            problems.add(where, f"container ports {container_ports}, expected [{port}, {port + 1000}]")
        if container.get("command") != [f"csm-{service}"]:
            problems.add(where, f"command {container.get('command')} does not run csm-{service}")
        for probe in ("readinessProbe", "livenessProbe"):
            grpc = container.get(probe, {}).get("grpc")
            if not grpc or grpc.get("port") != port:
                problems.add(where, f"{probe} must be a gRPC probe on port {port}")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(kind, {}):
                    problems.add(where, f"resources.{kind}.{resource} is missing")
        security = container.get("securityContext", {})
        if security.get("readOnlyRootFilesystem") is not True:
            problems.add(where, "readOnlyRootFilesystem must be true")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.add(where, "allowPrivilegeEscalation must be false")
        if "ALL" not in security.get("capabilities", {}).get("drop", []):
            problems.add(where, "capabilities must drop ALL")
        image = container.get("image", "")
        if image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]:
            problems.add(where, f"image {image!r} must carry a tag other than latest")
        if label == "production" and image.startswith("csm-access-suite:"):
            problems.add(where, f"image {image!r} is the local development image")

        names = set(env_names(container))
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                referenced = source["configMapRef"]["name"]
                if referenced not in configmaps:
                    problems.add(where, f"envFrom names a ConfigMap {referenced!r} that is not rendered")
                names |= set(configmaps.get(referenced, {}))
        for name in env_names(container):
            if name not in known:
                problems.add(where, f"env {name} is not a variable the services read")
        needed = {"CSM_DATABASE_URL", "CSM_AUTH_USER_KEYS", "CSM_AUTH_SERVICE_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT"}
        needed |= {peer_variable(peer) for peer in calls[service]}
        for name in sorted(needed - names):
            problems.add(where, f"{name} is not set")
        for entry in container.get("env", []):
            reference = entry.get("valueFrom", {}).get("secretKeyRef")
            if reference and reference["name"] in secrets:
                secret = secrets[reference["name"]]
                keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
                if reference["key"] not in keys:
                    problems.add(where, f"Secret {reference['name']} has no key {reference['key']}")

    for service in services_with_port_mismatch(by_kind.get("Service", []), ports):
        problems.add(f"{label} Service {service}", f"port is not {ports.get(service)}")

    for document in by_kind.get("PodDisruptionBudget", []):
        selected = document["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name")
        if selected not in deployments:
            problems.add(f"{label} PodDisruptionBudget {document['metadata']['name']}", "selects no Deployment")
    for document in by_kind.get("HorizontalPodAutoscaler", []):
        target = document["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            problems.add(f"{label} HPA {document['metadata']['name']}", f"targets {target!r}, not a Deployment")
        elif "replicas" in deployments[target]["spec"]:
            problems.add(f"{label} Deployment {target}", "sets replicas although an HPA owns them")
        if document["spec"]["minReplicas"] > document["spec"]["maxReplicas"]:
            problems.add(f"{label} HPA {document['metadata']['name']}", "minReplicas > maxReplicas")
    if "HorizontalPodAutoscaler" not in by_kind:
        problems.add(label, "no HorizontalPodAutoscaler (case-access must autoscale)")

    for name, secret in secrets.items():
        values = json.dumps(secret.get("stringData", {}))
        if label == "production" and "CHANGE-ME" in values:
            problems.add(f"{label} Secret {name}", "placeholder values reach production")

    check_network_policies(label, by_kind.get("NetworkPolicy", []), ports, calls, problems)


def services_with_port_mismatch(services, ports):
    for document in services:
        name = document["metadata"]["name"]
        if [entry["port"] for entry in document["spec"]["ports"]] != [ports.get(name)]:
            yield name


def pod_names(peers):
    """app.kubernetes.io/name of the podSelector-only peers of a rule."""
    names = set()
    for peer in peers:
        if "namespaceSelector" in peer or "ipBlock" in peer:
            continue
        name = peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
        if name:
            names.add(name)
    return names


def check_network_policies(label, policies, ports, calls, problems):
    allowed_out = {service: set() for service in SERVICES}
    allowed_in = {service: set() for service in SERVICES}
    default_deny = False
    for policy in policies:
        spec = policy["spec"]
        selector = spec.get("podSelector", {}).get("matchLabels", {})
        target = selector.get("app.kubernetes.io/name")
        if selector == {"app.kubernetes.io/part-of": "csm-access-suite"} and not spec.get("ingress") \
                and not spec.get("egress") and set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}:
            default_deny = True
        for rule in spec.get("egress", []) or []:
            destinations = pod_names(rule.get("to", []))
            if destinations and target is None:
                problems.add(f"{label} NetworkPolicy {policy['metadata']['name']}", "service egress for every pod")
            for destination in destinations:
                rule_ports = {entry.get("port") for entry in rule.get("ports", [])}
                if rule_ports != {ports.get(destination)}:
                    problems.add(f"{label} NetworkPolicy {policy['metadata']['name']}",
                                 f"egress to {destination} on {sorted(rule_ports)}, expected [{ports.get(destination)}]")
                allowed_out[target].add(destination)
        for rule in spec.get("ingress", []) or []:
            sources = pod_names(rule.get("from", []))
            if sources and target is None:
                problems.add(f"{label} NetworkPolicy {policy['metadata']['name']}", "service ingress for every pod")
            for source in sources:
                allowed_in[target].add(source)
    if not default_deny:
        problems.add(label, "no default-deny NetworkPolicy over the suite's pods")
    for service in SERVICES:
        expected_out = set(calls[service])
        expected_in = {caller for caller in SERVICES if service in calls[caller]}
        if allowed_out[service] != expected_out:
            problems.add(f"{label} NetworkPolicy", f"{service} may call {sorted(allowed_out[service])}, "
                         f"but its lib.rs calls {sorted(expected_out)}")
        if allowed_in[service] != expected_in:
            problems.add(f"{label} NetworkPolicy", f"{service} admits {sorted(allowed_in[service])}, "
                         f"but it is called by {sorted(expected_in)}")


def check_compose(compose, known, ports, calls, problems):
    services = compose.get("services", {})
    for required in ("postgres", "jaeger", *SERVICES):
        if required not in services:
            problems.add("compose", f"service {required} is missing")
    for service in SERVICES:
        definition = services.get(service)
        if not definition:
            continue
        where = f"compose {service}"
        if definition.get("command") != [f"csm-{service}"]:
            problems.add(where, f"command {definition.get('command')} does not run csm-{service}")
        environment = definition.get("environment", {}) or {}
        for name in environment:
            if name not in known:
                problems.add(where, f"{name} is not a variable the services read")
        needed = {"CSM_DATABASE_URL", "CSM_AUTH_USER_KEYS", "CSM_AUTH_SERVICE_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT"}
        for name in sorted(needed - set(environment)):
            problems.add(where, f"{name} is not set")
        for peer in calls[service]:
            url = environment.get(peer_variable(peer), "")
            if url != f"http://{peer}:{ports[peer]}":
                problems.add(where, f"{peer_variable(peer)} is {url!r}, expected http://{peer}:{ports[peer]}")
        if not str(environment.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")).startswith("http://jaeger:4317"):
            problems.add(where, "OTEL_EXPORTER_OTLP_ENDPOINT must point at jaeger:4317")
        database = str(environment.get("CSM_DATABASE_URL", ""))
        if not database.startswith("postgres://") or "@postgres:5432/" not in database:
            problems.add(where, "CSM_DATABASE_URL must point at the compose PostgreSQL")
        test = (definition.get("healthcheck") or {}).get("test", [])
        if test[:3] != ["CMD", "csm", "health"] or not any(str(ports[service]) in str(part) for part in test):
            problems.add(where, f"healthcheck must be `csm health` on port {ports[service]}, got {test}")
        depends = definition.get("depends_on", {}) or {}
        if (depends.get("postgres") or {}).get("condition") != "service_healthy":
            problems.add(where, "must depend on postgres being healthy")
        ports_published = [entry.get("target") for entry in definition.get("ports", [])]
        if ports_published and ports_published != [ports[service]]:
            problems.add(where, f"publishes {ports_published}, expected [{ports[service]}]")
    schemas = [str(services.get(service, {}).get("environment", {}).get("CSM_DATABASE_URL", "")).split("csm_schema=")[-1]
               for service in SERVICES]
    if len(set(schemas)) != len(SERVICES):
        problems.add("compose", f"services must not share a schema (their tables and change feeds collide): {schemas}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--compose", type=Path, required=True, help="`docker-compose config --format json` output")
    parser.add_argument("--manifests", action="append", default=[], help="LABEL=rendered.yaml")
    args = parser.parse_args()

    known, ports, calls = read_sources(args.repo)
    problems = Problems()
    if sorted(ports) != sorted(SERVICES):
        problems.add("sources", f"default ports not found in shared/server/src/config.rs: {ports}")
        ports = {service: ports.get(service) for service in SERVICES}
    check_compose(json.loads(args.compose.read_text()), known, ports, calls, problems)
    for entry in args.manifests:
        label, path = entry.split("=", 1)
        documents = [document for document in yaml.safe_load_all(Path(path).read_text()) if document]
        check_manifests(label, documents, known, ports, calls, problems)

    graph = "; ".join(f"{service} -> {', '.join(calls[service]) or '-'}" for service in SERVICES)
    print(f"call graph (from lib.rs): {graph}")
    if problems.items:
        for item in problems.items:
            print(f"FAIL {item}")
        print(f"{len(problems.items)} problem(s)")
        return 1
    print(f"checked compose and {len(args.manifests)} rendered manifest set(s) against the sources: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
