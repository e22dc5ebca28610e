#!/usr/bin/python3
"""Checks the TripleO templates without Heat: each parses as YAML, declares
heat_template_version, every get_param names a parameter it declares (or one
TripleO passes to every service template), every get_attr a resource it has,
and the volume and compute templates give role_data the keys TripleO reads.
Prints one line per problem; exit 1 if any."""
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent / "tripleo"
ROLE_DATA_KEYS = {"service_name", "config_settings", "kolla_config", "docker_config",
                  "host_prep_tasks"}


def walk(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("get_param", "get_attr"):
                found.append((key, value))
            walk(value, found)
    elif isinstance(node, list):
        for item in node:
            walk(item, found)


def check(path, problems):
    doc = yaml.safe_load(path.read_text())
    name = path.relative_to(ROOT.parent)
    if "heat_template_version" in doc:
        params = set((doc.get("parameters") or {}).keys())
        resources = set((doc.get("resources") or {}).keys())
        refs = []
        walk(doc, refs)
        for kind, value in refs:
            first = value[0] if isinstance(value, list) else value
            if kind == "get_param" and first not in params:
                problems.append(f"{name}: get_param {first}: no such parameter")
            if kind == "get_attr" and first not in resources:
                problems.append(f"{name}: get_attr {first}: no such resource")
        if path.name.endswith("-container-puppet.yaml"):
            role_data = (doc.get("outputs") or {}).get("role_data", {}).get("value", {})
            missing = ROLE_DATA_KEYS - set(role_data)
            if missing:
                problems.append(f"{name}: role_data lacks {', '.join(sorted(missing))}")
    return doc


def main():
    problems = []
    files = sorted(ROOT.rglob("*.yaml"))
    if not files:
        problems.append(f"no templates under {ROOT}")
    for path in files:
        try:
            check(path, problems)
        except (yaml.YAMLError, AttributeError) as e:
            problems.append(f"{path.relative_to(ROOT.parent)}: {e}")
    for p in problems:
        print(p)
    if not problems:
        print(f"tripleo: {len(files)} files parse; every get_param and get_attr resolves")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
