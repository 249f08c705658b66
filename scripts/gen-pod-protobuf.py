#!/usr/bin/env python3
"""Generates src/cluster/protobuf/pod_schema.rs: how a Kubernetes Pod's protobuf encoding maps to its JSON.

    scripts/gen-pod-protobuf.py CORE_V1_TYPES_GO META_V1_TYPES_GO COMMITS K8S_OPENAPI_SRC \
        > src/cluster/protobuf/pod_schema.rs

CORE_V1_TYPES_GO is k8s.io/api's core/v1/types.go, META_V1_TYPES_GO k8s.io/apimachinery's pkg/apis/meta/v1/types.go,
COMMITS a line naming the commits they come from (written into the header), K8S_OPENAPI_SRC the version folder of the
k8s-openapi crate the server builds with (`~/.cargo/registry/src/*/k8s-openapi-0.29.0/src/v1_33`). Every struct
reachable from Pod becomes a table of its fields: protobuf field number, JSON name, what the value is, whether it
repeats, whether Go's encoding/json leaves it out when it holds its zero value (`omitempty` on a non-pointer scalar),
and where k8s-openapi's `Serialize` writes it among its object's fields (an inlined struct's fields among its
parent's; none when k8s-openapi does not know the field). Protobuf field numbers never change meaning, so tables
from a recent Kubernetes read every older server's pods; fields a server sends that a table does not know are
skipped, as the JSON path skips fields k8s-openapi does not know.
"""
import glob
import os
import re
import sys

# Go types with a JSON form of their own (what their MarshalJSON writes), by unqualified name.
SPECIAL = {
    "Time": "Time",
    "Quantity": "Quantity",
    "IntOrString": "IntOrString",
}
# Fields no cache keeps (api §0.6): left out of the tables, so the transcoder skips them.
SKIPPED = {("ObjectMeta", "managedFields")}

FIELD = re.compile(r"^\s*(?:(\w+)\s+)?([\w.*\[\]]+)\s+`([^`]*)`")
TAG = re.compile(r'(\w+):"([^"]*)"')


def parse(paths):
    structs, named = {}, {}
    for path in paths:
        current = None
        for line in open(path, encoding="utf-8"):
            if current is not None:
                if line.startswith("}"):
                    current = None
                    continue
                stripped = line.strip()
                if not stripped or stripped.startswith("//"):
                    continue
                match = FIELD.match(line)
                if match:
                    go_name, go_type, tags = match.groups()
                    structs[current].append((go_name, go_type, dict(TAG.findall(tags))))
                continue
            match = re.match(r"^type (\w+) struct \{", line)
            if match:
                current = match.group(1)
                structs[current] = []
                continue
            match = re.match(r"^type (\w+) ([\w.*\[\]]+)\s*$", line)
            if match:
                named[match.group(1)] = match.group(2)
    return structs, named


def unqualified(go_type):
    return go_type.split(".")[-1]


def openapi_orders(folder):
    """JSON field names of each k8s-openapi core/v1 and meta/v1 type, in the order its `Serialize` writes them."""
    orders = {}
    for sub in ("api/core/v1", "apimachinery/pkg/apis/meta/v1"):
        for path in sorted(glob.glob(os.path.join(folder, sub, "*.rs"))):
            text = open(path, encoding="utf-8").read()
            at = text.find("fn serialize<S>")
            if at < 0:
                continue
            body = text[at:]
            name = re.search(r'serialize_struct\(\s*(?:<Self as crate::Resource>::KIND|"(\w+)")', body)
            if name is None:
                continue
            struct = name.group(1) or os.path.basename(path)[:-3].title().replace("_", "")
            # Fields it requires are written from `&self.<field>`, the others from `value` when set.
            orders[struct] = re.findall(r'serialize_field\(&mut state, "([^"]+)", (&self|value)', body)
    return orders


class Generator:
    def __init__(self, structs, named, openapi):
        self.structs, self.named, self.openapi = structs, named, openapi
        self.order, self.seen, self.fields = [], set(), {}

    def kind(self, go_type):
        """The Rust `Kind` of one (non-repeated) value of `go_type`."""
        go_type = go_type.lstrip("*")
        if go_type.startswith("map["):
            value = go_type[go_type.index("]") + 1:]
            return f"Map(&{self.kind(value)})"
        name = unqualified(go_type)
        if name in SPECIAL:
            return SPECIAL[name]
        if go_type in ("string", "bool", "int32", "int64"):
            return {"string": "Str", "bool": "Bool", "int32": "Int32", "int64": "Int64"}[go_type]
        if name in self.named:
            return self.kind(self.named[name])
        if name in ("UID",):
            return "Str"
        if name in self.structs:
            self.visit(name)
            return f"Message(&{constant(name)})"
        raise SystemExit(f"gen-pod-protobuf: no mapping for Go type {go_type}")

    def visit(self, struct):
        if struct in self.seen:
            return
        self.seen.add(struct)
        fields = []
        for go_name, go_type, tags in self.structs[struct]:
            proto = tags.get("protobuf")
            if proto is None:
                continue  # TypeMeta: not in the protobuf encoding
            parts = proto.split(",")
            number = int(parts[1])
            json_parts = tags.get("json", "").split(",")
            # An embedded struct without a JSON name (`json:""` or `json:",inline"`) has its fields inlined.
            inline = "inline" in json_parts[1:] or (go_name is None and not json_parts[0])
            json_name = json_parts[0] or (go_name or unqualified(go_type))
            if (struct, json_name) in SKIPPED:
                continue
            pointer = go_type.startswith("*")
            resolved = go_type
            base = unqualified(go_type.lstrip("*"))
            if base in self.named and self.named[base].startswith("[]"):
                resolved = self.named[base]  # e.g. a named slice type
            repeated = resolved.startswith("[]")
            element = resolved[2:] if repeated else resolved
            kind = self.kind(element)
            if inline:
                # k8s-openapi flattens an inlined struct: its fields are ranked among this struct's.
                child = unqualified(element.lstrip("*"))
                places = ", ".join(self.places(struct, self.fields[child]))
                kind = kind.replace("Message(", "Inline(").rstrip(")") + f", &[{places}])"
            scalar = kind in ("Str", "Bool", "Int32", "Int64")
            omit_zero = scalar and not pointer and not repeated and (
                "omitempty" in json_parts[1:] or "omitzero" in json_parts[1:])
            fields.append((number, json_name, kind, repeated, omit_zero))
        fields.sort()
        if len(fields) > 64:
            raise SystemExit(f"gen-pod-protobuf: {struct} has more than 64 fields (the transcoder's set of a message's fields)")
        self.fields[struct] = fields
        self.order.append((struct, fields))

    def places(self, struct, fields):
        """Where k8s-openapi's `struct` writes each of `fields` (a Rust `Place`): its rank in the order it is
        serialised in, and whether it is written even when unset (a required field); `UNKNOWN` when k8s-openapi
        does not know it, or `struct` is only ever inlined."""
        order = [name for name, _ in self.openapi.get(struct, [])]
        required = {name for name, source in self.openapi.get(struct, []) if source == "&self"}
        if len(order) > 255:
            raise SystemExit(f"gen-pod-protobuf: {struct} has more fields than a rank holds")
        return [
            "UNKNOWN" if name not in order else
            f"{'always' if name in required else 'at'}({order.index(name)})"
            for _, name, *_ in fields
        ]


def constant(struct):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", struct).upper()


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    structs, named = parse(sys.argv[1:3])
    generator = Generator(structs, named, openapi_orders(sys.argv[4]))
    generator.visit("Pod")
    out = [
        "//! How a Pod's protobuf encoding maps to its JSON: one table per message, fields by number, each with where",
        "//! k8s-openapi writes it.",
        "//!",
        "//! Generated by `scripts/gen-pod-protobuf.py` from Kubernetes' `types.go` files and k8s-openapi's sources;",
        "//! do not edit.",
        f"//! Source: {sys.argv[3]}; {os.path.basename(os.path.dirname(os.path.dirname(os.path.normpath(sys.argv[4]))))}"
        f" ({os.path.basename(os.path.normpath(sys.argv[4]))})",
        "",
        "use super::{Field, Kind::*, UNKNOWN, always, at};",
        "",
    ]
    for struct, fields in sorted(generator.order):
        out.append(f"/// `{struct}`.")
        out.append(f"pub static {constant(struct)}: [Field; {len(fields)}] = [")
        for (number, name, kind, repeated, omit_zero), place in zip(fields, generator.places(struct, fields)):
            out.append(
                f'    Field {{ number: {number}, name: "{name}", kind: {kind}, '
                f"repeated: {str(repeated).lower()}, omit_zero: {str(omit_zero).lower()}, place: {place} }},"
            )
        out.append("];")
        out.append("")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
