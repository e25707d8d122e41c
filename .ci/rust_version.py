"""Checks that the workspace's declared rust-version is at least what every locked
package needs on this platform (cargo metadata's rust_version of each resolved package)."""
import json
import subprocess
import sys

meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--filter-platform",
     subprocess.check_output(["rustc", "-vV"], text=True).split("host: ")[1].split()[0]],
    text=True))


def version(v):
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


resolved = {n["id"] for n in meta["resolve"]["nodes"]}
ours = {p["name"]: p.get("rust_version") for p in meta["packages"]
        if p["id"] in meta["workspace_members"]}
declared = {v for v in ours.values() if v}
if len(declared) != 1:
    sys.exit(f"the workspace members declare different rust-versions: {ours}")
declared = declared.pop()
needs = [(p["rust_version"], p["name"], p["version"]) for p in meta["packages"]
         if p["id"] in resolved and p.get("rust_version")]
worst = max(needs, key=lambda t: version(t[0]))
if version(worst[0]) > version(declared):
    sys.exit(f"rust-version {declared} is not true: {worst[1]} {worst[2]} needs {worst[0]}")
print(f"rust-version {declared}: every locked package needs at most {worst[0]} ({worst[1]} {worst[2]})")
