#!/usr/bin/env python3
"""Prints the span tree of the trace holding a named span, from otelsink's log.

otelsink (PyPI oteltest) prints each OTLP export request it receives as a
Python dict (protobuf MessageToDict). Usage:

    otlp_span_tree.py <otelsink.log> <span name>
"""

import ast
import base64
import sys


def spans_of(log_path):
    for line in open(log_path, encoding="utf-8"):
        line = line.strip()
        if not line.startswith("{'resourceSpans'"):
            continue
        request = ast.literal_eval(line)
        for resource_spans in request.get("resourceSpans", []):
            attributes = resource_spans.get("resource", {}).get("attributes", [])
            service = next(
                (a["value"].get("stringValue") for a in attributes if a["key"] == "service.name"), "?"
            )
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    yield service, span


def metric_pushes(log_path):
    """(service, metric names) of each OTLP metrics request received."""
    for line in open(log_path, encoding="utf-8"):
        line = line.strip()
        if not line.startswith("{'resourceMetrics'"):
            continue
        request = ast.literal_eval(line)
        for resource_metrics in request.get("resourceMetrics", []):
            attributes = resource_metrics.get("resource", {}).get("attributes", [])
            service = next(
                (a["value"].get("stringValue") for a in attributes if a["key"] == "service.name"), "?"
            )
            names = [m["name"] for s in resource_metrics.get("scopeMetrics", []) for m in s.get("metrics", [])]
            yield service, names


def hex_id(value):
    return base64.b64decode(value).hex() if value else ""


def attribute_text(span):
    shown = []
    for attribute in span.get("attributes", []):
        key = attribute["key"]
        if key.startswith("csm.") or key in ("rpc.grpc.status_code", "otel.status_code"):
            value = next(iter(attribute["value"].values()))
            shown.append(f"{key}={value}")
    return " ".join(shown)


def main():
    log_path, wanted = sys.argv[1], sys.argv[2]
    spans = [(service, span) for service, span in spans_of(log_path)]
    print(f"{len(spans)} spans received in all")
    roots = [s for s in spans if s[1]["name"] == wanted and s[1].get("kind") == "SPAN_KIND_SERVER"]
    if not roots:
        print(f"no server span named {wanted!r} was received")
        sys.exit(1)
    trace_id = roots[-1][1]["traceId"]
    in_trace = [s for s in spans if s[1]["traceId"] == trace_id]
    children = {}
    for service, span in in_trace:
        children.setdefault(span.get("parentSpanId", ""), []).append((service, span))
    ids = {span["spanId"] for _, span in in_trace}
    print(f"trace {hex_id(trace_id)}: {len(in_trace)} spans")

    def show(node, depth):
        service, span = node
        millis = (int(span["endTimeUnixNano"]) - int(span["startTimeUnixNano"])) / 1e6
        kind = span.get("kind", "").replace("SPAN_KIND_", "").lower()
        print(f"{'  ' * depth}- [{service}] {span['name']} ({kind}, {millis:.1f} ms) {attribute_text(span)}")
        for child in sorted(children.get(span["spanId"], []), key=lambda c: int(c[1]["startTimeUnixNano"])):
            show(child, depth + 1)

    tops = [s for s in in_trace if s[1].get("parentSpanId", "") not in ids]
    for top in sorted(tops, key=lambda c: int(c[1]["startTimeUnixNano"])):
        show(top, 0)

    pushes = list(metric_pushes(log_path))
    if pushes:
        by_service = {}
        for service, names in pushes:
            by_service.setdefault(service, set()).update(names)
        print(f"metrics: {len(pushes)} OTLP pushes received")
        for service, names in sorted(by_service.items()):
            print(f"  {service}: {len(names)} metrics, e.g. {', '.join(sorted(names)[:4])}")


if __name__ == "__main__":
    main()
