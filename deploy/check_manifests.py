#!/usr/bin/env python3
"""Checks of deploy/ that a schema cannot make, against the Rust sources.

Run by scripts/validate-deploy.sh after the schema validation:

    check_manifests.py --repo ROOT --compose COMPOSE.json \
        --manifests base=BASE.yaml --manifests production=PROD.yaml

- every variable the manifests and compose set is one the services read
  (names taken from shared/server, shared/auth, shared/telemetry and the
  services' lib.rs), and each service gets the variables it needs (database
  URL, its key and the public keys, identity its signing keys, the bootstrap
  administrator on identity and role, the URLs of the peers it calls, the
  OTLP endpoint);
- key custody (the security property of the key layout, deploy/README.md
  "Keys"): identity's signing-key Secret is referenced by identity alone and
  csm-<service>-service-key by <service> alone, each mounted read-only as
  files (never as environment variables), and the paths in
  CSM_IDENTITY_SIGNING_KEY_FILES / CSM_AUTH_SERVICE_KEY_FILE lie in those
  mounts; no Secret holding a private key is referenced by two workloads and
  no ConfigMap holds one; every service mounts csm-public-keys and reads
  CSM_AUTH_SERVICE_JWKS / CSM_AUTH_IDENTITY_JWKS from it; in compose (one
  shared key volume, development only) only identity is given the signing
  key and each service its own key file; nothing mentions the retired
  shared HS256 settings (CSM_AUTH_USER_KEYS, CSM_AUTH_SERVICE_KEY);
- the call graph the NetworkPolicies allow (and compose wires) is exactly the
  one in each service's lib.rs `run()` (its peer channels) plus the peers
  every service calls from shared/server's `run_service` (identity and role:
  the caller directory and identity's signing keys);
- ports are the services' default ports;
- every Deployment: gRPC readiness and liveness probes on its port, cpu and
  memory requests and limits, non-root, read-only root file system, no
  privilege escalation, all capabilities dropped;
- HPA, PDBs and Secrets reference what exists; every placeholder in the
  base is labelled for deletion and the production overlay carries no
  placeholder object or value and no development image.

Exit code 1 with one line per problem.
"""

import argparse
import base64
import json
import re
import sys
from pathlib import Path

import yaml

SERVICES = ["identity", "role", "account-team", "case-access", "licensing"]
CAMEL = {"Identity": "identity", "Role": "role", "AccountTeam": "account-team",
         "CaseAccess": "case-access", "Licensing": "licensing"}

# Key material (deploy/README.md "Keys", deploy/k8s/base/secret.yaml).
SIGNING_SECRET = "csm-identity-signing-keys"
PUBLIC_KEYS = "csm-public-keys"
PUBLIC_FILES = {"CSM_AUTH_SERVICE_JWKS": "service-jwks.json", "CSM_AUTH_IDENTITY_JWKS": "identity-jwks.json"}
PLACEHOLDER_LABEL = "csm-access-suite/placeholder"
# The shared HS256 settings and their Secret keys, gone with Ed25519 keys.
RETIRED = re.compile(r"\b(CSM_AUTH_USER_KEYS|CSM_AUTH_SERVICE_KEY|auth-user-keys|auth-service-key)\b")
# What every service needs, and what only some do.
NEEDED = {"CSM_DATABASE_URL", "CSM_AUTH_SERVICE_KEY_FILE", "CSM_AUTH_SERVICE_JWKS", "CSM_AUTH_IDENTITY_JWKS",
          "OTEL_EXPORTER_OTLP_ENDPOINT"}
NEEDED_BY = {
    "identity": {"CSM_IDENTITY_SIGNING_KEY_FILES", "CSM_BOOTSTRAP_ADMIN_PROFILES", "CSM_BOOTSTRAP_ADMIN_LOGIN",
                 "CSM_BOOTSTRAP_ADMIN_PASSWORD"},
    "role": {"CSM_BOOTSTRAP_ADMIN_PROFILES"},
}


def service_key_secret(service):
    return f"csm-{service}-service-key"


KEY_OBJECTS = {SIGNING_SECRET, PUBLIC_KEYS, *(service_key_secret(service) for service in SERVICES)}


def canonical(name):
    """A key object's name without the content hash a kustomize generator appends."""
    stripped = re.sub(r"-[a-z0-9]{10}$", "", name or "")
    return stripped if stripped in KEY_OBJECTS else name


def peer_variable(service):
    return "CSM_%s_URL" % service.replace("-", "_").upper()


def read_sources(repo):
    """Variables read, default ports and the call graph, from the Rust sources."""
    read_files = [repo / "shared/server/src/config.rs", repo / "shared/auth/src/config.rs",
                  repo / "shared/telemetry/src/lib.rs"]
    read_files += [repo / f"services/{service}/src/lib.rs" for service in SERVICES]
    known = {peer_variable(service) for service in SERVICES}
    for path in read_files:
        text = path.read_text()
        known |= set(re.findall(r'"((?:CSM|OTEL)_[A-Z0-9_]+|RUST_LOG)"', text))
    # Variables only the test harness reads are not for deployments.
    known.discard("CSM_TEST_POSTGRES_URL")

    config = (repo / "shared/server/src/config.rs").read_text()
    ports = {CAMEL[name]: int(port) for name, port in re.findall(r"ServiceName::(\w+) => (\d+)", config)}

    # Peer channels: `peer_channel(config.peers.url(ServiceName::Role), …)`,
    # `peer(ServiceName::Role)`, with or without a `csm_types::` path.
    channel = re.compile(r"peer(?:_channel)?\(\s*(?:config\.peers\.url\(\s*)?(?:\w+::)*ServiceName::(\w+)")
    # What every service calls from csm_server::run_service (its caller
    # directory and key refresher: identity and role).
    server = (repo / "shared/server/src/lib.rs").read_text()
    start = server.index("pub async fn run_service")
    body = server[start:server.index("\n}\n", start)]
    every = {CAMEL[peer] for peer in channel.findall(body)}
    calls = {}
    for service in SERVICES:
        text = (repo / f"services/{service}/src/lib.rs").read_text()
        run = text[text.index("pub async fn run("):]
        peers = {CAMEL[peer] for peer in channel.findall(run)}
        if "run_service(" in text:
            peers |= every
        calls[service] = sorted(peers)
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
    # ConfigMaps taken as environment variables (others, e.g. the public keys, are files).
    as_env = {source["configMapRef"]["name"] for deployment in deployments.values()
              for container in deployment["spec"]["template"]["spec"]["containers"]
              for source in container.get("envFrom", []) if "configMapRef" in source}
    for name, data in configmaps.items():
        for key in data if name in as_env else []:
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
        needed = NEEDED | NEEDED_BY.get(service, set())
        needed |= {peer_variable(peer) for peer in calls[service]}
        for name in sorted(needed - names):
            problems.add(where, f"{name} is not set")
        if service != "identity" and "CSM_IDENTITY_SIGNING_KEY_FILES" in names:
            problems.add(where, "CSM_IDENTITY_SIGNING_KEY_FILES is set: identity's signing keys are identity's alone")
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

    for kind in ("Secret", "ConfigMap"):
        for document in by_kind.get(kind, []):
            name = document["metadata"]["name"]
            values = json.dumps([document.get(field, {}) for field in ("stringData", "data", "binaryData")])
            placeholder = document["metadata"].get("labels", {}).get(PLACEHOLDER_LABEL) == "true"
            if label == "production" and ("CHANGE-ME" in values or placeholder):
                problems.add(f"{label} {kind} {name}", "a placeholder reaches production")
            if "CHANGE-ME" in values and not placeholder:
                problems.add(f"{label} {kind} {name}", f"holds placeholder values but lacks the label "
                             f"{PLACEHOLDER_LABEL}: \"true\" (the production overlay deletes by it)")

    check_keys(label, documents, configmaps, secrets, deployments, problems)
    check_retired(label, json.dumps(documents), problems)
    check_network_policies(label, by_kind.get("NetworkPolicy", []), ports, calls, problems)


def pod_specs(documents):
    """(workload name, pod spec) of every object that runs pods."""
    for document in documents:
        kind, name = document["kind"], document["metadata"]["name"]
        spec = document.get("spec", {}) or {}
        if kind == "Pod":
            yield f"Pod {name}", spec
        elif kind == "CronJob":
            yield f"CronJob {name}", spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
        elif "template" in spec and isinstance(spec["template"], dict) and "spec" in spec["template"]:
            yield f"{kind} {name}", spec["template"]["spec"]


def containers_of(pod):
    return [*pod.get("initContainers", []), *pod.get("containers", []), *pod.get("ephemeralContainers", [])]


def volume_sources(volume):
    """[(kind, name)] of the Secrets and ConfigMaps a volume projects."""
    if "secret" in volume:
        return [("Secret", canonical(volume["secret"].get("secretName")))]
    if "configMap" in volume:
        return [("ConfigMap", canonical(volume["configMap"].get("name")))]
    sources = []
    for source in (volume.get("projected") or {}).get("sources", []) or []:
        if "secret" in source:
            sources.append(("Secret", canonical(source["secret"].get("name"))))
        if "configMap" in source:
            sources.append(("ConfigMap", canonical(source["configMap"].get("name"))))
    return sources


def references(pod):
    """{(kind, name): {"volume", "env"}}: how a pod spec uses Secrets and ConfigMaps."""
    found = {}
    for volume in pod.get("volumes", []) or []:
        for source in volume_sources(volume):
            found.setdefault(source, set()).add("volume")
    for container in containers_of(pod):
        for entry in container.get("env", []) or []:
            value_from = entry.get("valueFrom") or {}
            if "secretKeyRef" in value_from:
                found.setdefault(("Secret", canonical(value_from["secretKeyRef"].get("name"))), set()).add("env")
            if "configMapKeyRef" in value_from:
                found.setdefault(("ConfigMap", canonical(value_from["configMapKeyRef"].get("name"))), set()).add("env")
        for source in container.get("envFrom", []) or []:
            if "secretRef" in source:
                found.setdefault(("Secret", canonical(source["secretRef"].get("name"))), set()).add("env")
            if "configMapRef" in source:
                found.setdefault(("ConfigMap", canonical(source["configMapRef"].get("name"))), set()).add("env")
    return found


def mounted_file(pod, container, path):
    """(sources, file name inside the volume, mount) of the volume mount that holds `path`."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", []) or []}
    best = None
    for mount in container.get("volumeMounts", []) or []:
        root = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(root) and (best is None or len(root) > len(best[0])):
            best = (root, mount)
    if best is None:
        return None
    root, mount = best
    relative = path[len(root):]
    if mount.get("subPath"):
        relative = mount["subPath"].rstrip("/") + "/" + relative
    return volume_sources(volumes.get(mount["name"], {})), relative, mount


def literal_env(container, configmaps):
    """Variable -> literal value (env `value`, or a rendered ConfigMap through envFrom); None when from a Secret."""
    values = {}
    for source in container.get("envFrom", []) or []:
        if "configMapRef" in source:
            values.update(configmaps.get(source["configMapRef"]["name"], {}))
    for entry in container.get("env", []) or []:
        values[entry["name"]] = entry.get("value") if "value" in entry else None
    return values


def holds_private_key(secret):
    texts = [str(value) for value in (secret.get("stringData") or {}).values()]
    for value in (secret.get("data") or {}).values():
        try:
            texts.append(base64.b64decode(str(value)).decode("utf-8", "replace"))
        except ValueError:
            pass
    return any("PRIVATE KEY" in text for text in texts)


def private_key_holders(secrets):
    return {name for name, secret in secrets.items()
            if holds_private_key(secret) or name == SIGNING_SECRET or re.fullmatch(r"csm-.+-service-key", name)}


def check_keys(label, documents, configmaps, secrets, deployments, problems):
    """Who may hold which key (the module docs); see deploy/README.md "Keys"."""
    rendered_configmaps = configmaps
    secrets = {canonical(name): secret for name, secret in secrets.items()}
    configmaps = {canonical(name): data for name, data in configmaps.items()}
    users = {}
    private = private_key_holders(secrets) | {SIGNING_SECRET} | {service_key_secret(s) for s in SERVICES}
    for workload, pod in pod_specs(documents):
        for (kind, name), how in references(pod).items():
            users.setdefault((kind, name), {})[workload] = how
        # Within the owner's pod, only the service's own container (no sidecar) mounts its keys.
        volumes = {volume["name"]: volume_sources(volume) for volume in pod.get("volumes", []) or []}
        for container in containers_of(pod):
            for mount in container.get("volumeMounts", []) or []:
                for kind, name in volumes.get(mount["name"], []):
                    if kind == "Secret" and name in private and workload.startswith("Deployment ") \
                            and container.get("name") != workload.split(" ", 1)[1]:
                        problems.add(f"{label} {workload}", f"container {container.get('name')} mounts private key "
                                     f"Secret {name}: only the service's own container may")
    for name in sorted(private):
        holders = users.get(("Secret", name), {})
        owner = "identity" if name == SIGNING_SECRET else next(
            (service for service in SERVICES if name == service_key_secret(service)), None)
        if owner is None and len(holders) > 1:
            problems.add(f"{label} Secret {name}", f"holds a private key and is referenced by {sorted(holders)}: "
                         "one Secret per key holder")
        for workload, how in sorted(holders.items()):
            if owner is not None and workload != f"Deployment {owner}":
                problems.add(f"{label} {workload}", f"references Secret {name}, a private key of {owner} alone")
            if "env" in how:
                problems.add(f"{label} {workload}", f"takes private key Secret {name} into environment "
                             "variables: mount it read-only as files")
    for name, data in configmaps.items():
        if "PRIVATE KEY" in json.dumps(data):
            problems.add(f"{label} ConfigMap {name}", "holds a private key (ConfigMaps are not secret)")
    for name, secret in secrets.items():
        if name not in private:
            continue
        if secret.get("type", "Opaque") != "Opaque":
            problems.add(f"{label} Secret {name}", "must be an Opaque Secret of PEM files")

    for service, deployment in deployments.items():
        where = f"{label} Deployment {service}"
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = literal_env(container, rendered_configmaps)

        def in_mount(variable, path, kind, source):
            """`path` must be a file of `source` mounted read-only."""
            found = mounted_file(pod, container, path)
            if found is None:
                problems.add(where, f"{variable}: {path} is not in any volume mount")
                return
            sources, relative, mount = found
            if (kind, source) not in sources:
                problems.add(where, f"{variable}: {path} is in the mount of {sources}, not of {kind} {source}")
                return
            if mount.get("readOnly") is not True:
                problems.add(where, f"the mount of {kind} {source} at {mount['mountPath']} must be readOnly")
            rendered = secrets.get(source) if kind == "Secret" else (
                {"data": configmaps[source]} if source in configmaps else None)
            if rendered is not None:
                keys = set(rendered.get("stringData", {})) | set(rendered.get("data", {}))
                if relative not in keys:
                    problems.add(where, f"{variable}: {kind} {source} has no key {relative!r}")

        key_file = env.get("CSM_AUTH_SERVICE_KEY_FILE")
        if "CSM_AUTH_SERVICE_KEY_FILE" in env and key_file is None:
            problems.add(where, "CSM_AUTH_SERVICE_KEY_FILE must be a literal path (checked against the mounts)")
        elif key_file:
            in_mount("CSM_AUTH_SERVICE_KEY_FILE", key_file.strip(), "Secret", service_key_secret(service))
        if f"Deployment {service}" not in users.get(("Secret", service_key_secret(service)), {}):
            problems.add(where, f"does not mount its own key Secret {service_key_secret(service)}")

        if service == "identity":
            files = env.get("CSM_IDENTITY_SIGNING_KEY_FILES")
            if "CSM_IDENTITY_SIGNING_KEY_FILES" in env and files is None:
                problems.add(where, "CSM_IDENTITY_SIGNING_KEY_FILES must be literal paths (checked against the mounts)")
            for path in (files or "").split(","):
                if path.strip():
                    in_mount("CSM_IDENTITY_SIGNING_KEY_FILES", path.strip(), "Secret", SIGNING_SECRET)
            if "Deployment identity" not in users.get(("Secret", SIGNING_SECRET), {}):
                problems.add(where, f"does not mount its signing keys (Secret {SIGNING_SECRET})")

        if f"Deployment {service}" not in users.get(("ConfigMap", PUBLIC_KEYS), {}):
            problems.add(where, f"does not mount the public keys (ConfigMap {PUBLIC_KEYS})")
        for variable, file_name in PUBLIC_FILES.items():
            value = env.get(variable)
            if variable not in env:
                continue  # reported as not set
            if value is None or not value.startswith("@"):
                problems.add(where, f"{variable} must be @<file> from ConfigMap {PUBLIC_KEYS}")
                continue
            path = value[1:].strip()
            if not path.endswith("/" + file_name):
                problems.add(where, f"{variable} names {path}, expected the ConfigMap's {file_name}")
            in_mount(variable, path, "ConfigMap", PUBLIC_KEYS)

        # The bootstrap password is a secret.
        password = next((entry for entry in container.get("env", []) if entry["name"] == "CSM_BOOTSTRAP_ADMIN_PASSWORD"), None)
        if password is not None and "secretKeyRef" not in (password.get("valueFrom") or {}):
            problems.add(where, "CSM_BOOTSTRAP_ADMIN_PASSWORD must come from a Secret")
    for name, data in configmaps.items():
        for key in data:
            if "PASSWORD" in key:
                problems.add(f"{label} ConfigMap {name}", f"{key} belongs in a Secret")
    # identity and role must agree on the first administrator's profile ids.
    sources = {}
    for service in ("identity", "role"):
        if service in deployments:
            container = deployments[service]["spec"]["template"]["spec"]["containers"][0]
            entry = next((entry for entry in container.get("env", []) if entry["name"] == "CSM_BOOTSTRAP_ADMIN_PROFILES"),
                         None)
            sources[service] = json.dumps(entry and {k: v for k, v in entry.items() if k != "name"}, sort_keys=True)
    if len(set(sources.values())) > 1:
        problems.add(label, f"identity and role take CSM_BOOTSTRAP_ADMIN_PROFILES from different places: {sources}")


def check_retired(where, text, problems):
    for match in sorted(set(RETIRED.findall(text))):
        problems.add(where, f"mentions {match}, a retired shared-secret setting (Ed25519 keys replaced it)")


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
        needed = NEEDED | NEEDED_BY.get(service, set())
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
    check_compose_keys(services, problems)
    schemas = [str(services.get(service, {}).get("environment", {}).get("CSM_DATABASE_URL", "")).split("csm_schema=")[-1]
               for service in SERVICES]
    if len(set(schemas)) != len(SERVICES):
        problems.add("compose", f"services must not share a schema (their tables and change feeds collide): {schemas}")


def check_compose_keys(services, problems):
    """compose: the `keys` one-shot writes the key set into a volume that every
    service mounts read-only (development only: all could read it), identity
    alone is pointed at the signing key, each service at its own key."""
    keys = services.get("keys")
    if not keys:
        problems.add("compose", "service keys (the one-shot `csm keys generate`) is missing")
        return
    command = " ".join(str(part) for part in (keys.get("command") or []))
    if "csm keys generate" not in command:
        problems.add("compose keys", f"command {command!r} does not run `csm keys generate`")
    if str(keys.get("restart", "no")) not in ("no", "on-failure"):
        problems.add("compose keys", f"restart {keys.get('restart')!r}: a one-shot must not be restarted")
    written = [volume for volume in keys.get("volumes", []) if volume.get("type") == "volume"]
    if len(written) != 1 or written[0].get("read_only"):
        problems.add("compose keys", "must write one named volume (the key set)")
        return
    source, root = written[0]["source"], written[0]["target"].rstrip("/")
    profiles = {}
    for service in SERVICES:
        definition = services.get(service)
        if not definition:
            continue
        where = f"compose {service}"
        environment = definition.get("environment", {}) or {}
        depends = definition.get("depends_on", {}) or {}
        if (depends.get("keys") or {}).get("condition") != "service_completed_successfully":
            problems.add(where, "must depend on keys (condition: service_completed_successfully)")
        mounts = [volume for volume in definition.get("volumes", []) if volume.get("source") == source]
        if not mounts:
            problems.add(where, f"does not mount the key volume {source}")
            continue
        mount = mounts[0]
        if not mount.get("read_only"):
            problems.add(where, f"mounts the key volume {source} writable (read_only: true)")
        base = mount["target"].rstrip("/")
        expected = {
            "CSM_AUTH_SERVICE_KEY_FILE": f"{base}/{service}/service-key.pem",
            "CSM_AUTH_SERVICE_JWKS": f"@{base}/public/service-jwks.json",
            "CSM_AUTH_IDENTITY_JWKS": f"@{base}/public/identity-jwks.json",
        }
        if service == "identity":
            expected["CSM_IDENTITY_SIGNING_KEY_FILES"] = f"{base}/identity/signing-key.pem"
        elif "CSM_IDENTITY_SIGNING_KEY_FILES" in environment:
            problems.add(where, "CSM_IDENTITY_SIGNING_KEY_FILES is set: identity's signing keys are identity's alone")
        for variable, value in expected.items():
            if variable in environment and str(environment[variable]).strip() != value:
                problems.add(where, f"{variable} is {environment[variable]!r}, expected {value!r} "
                             f"(the layout of `csm keys generate` in the key volume)")
        if base != root:
            problems.add(where, f"mounts the key volume at {base}, the keys service writes it at {root}")
        if service in ("identity", "role"):
            profiles[service] = str(environment.get("CSM_BOOTSTRAP_ADMIN_PROFILES", ""))
    if len(set(profiles.values())) > 1:
        problems.add("compose", f"identity and role disagree on CSM_BOOTSTRAP_ADMIN_PROFILES: {profiles}")
    first = profiles.get("identity", "").split(",")[0].strip()
    if not re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", first):
        problems.add("compose identity", f"CSM_BOOTSTRAP_ADMIN_PROFILES must start with a profile id (UUID), got {first!r}")


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
    compose = json.loads(args.compose.read_text())
    check_compose(compose, known, ports, calls, problems)
    check_retired("compose", json.dumps(compose), problems)
    # The sources too, comments included: nobody should be told to set them.
    for path in sorted([args.repo / "deploy/compose.yaml", *(args.repo / "deploy/k8s").rglob("*.yaml")]):
        check_retired(str(path.relative_to(args.repo)), path.read_text(), problems)
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
