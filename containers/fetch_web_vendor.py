"""The browser libraries for the engine image (SIP.js, Chart.js and what they need): exactly the
tarballs package-lock.json pins, each one's integrity checked.

The same files `make install` gets with `npm ci`, without Node.js in the image. Used by the
Dockerfile's web-vendor stage: python3 fetch_web_vendor.py PACKAGE_LOCK TARGET_NODE_MODULES.
The build may mount the host's CA bundle (secret host-ca-certificates) for an inspecting proxy.
"""

import base64
import hashlib
import io
import json
import os
import ssl
import sys
import tarfile
import urllib.request

CA_BUNDLE = "/run/secrets/host-ca-certificates"


def main(lock_path: str, target: str) -> None:
    packages = json.load(open(lock_path))["packages"]
    for place, package in packages.items():
        if place.startswith("node_modules/"):
            fetch(place, package, lock_path, target)


def fetch(place: str, package: dict, lock_path: str, target: str) -> None:
    """One package (`place` as in the lock: node_modules/NAME or node_modules/@SCOPE/NAME) into target."""
    name = place.rsplit("node_modules/", 1)[1]
    url = f"https://registry.npmjs.org/{name}/-/{name.rsplit('/', 1)[-1]}-{package['version']}.tgz"
    bundle = CA_BUNDLE if os.path.exists(CA_BUNDLE) and os.path.getsize(CA_BUNDLE) else None
    with urllib.request.urlopen(url, timeout=60, context=ssl.create_default_context(cafile=bundle)) as answer:
        data = answer.read()
    algorithm, _, expected = package["integrity"].partition("-")
    if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != expected:
        raise SystemExit(f"{url}: its {algorithm} is not the one {lock_path} pins")
    destination = os.path.join(target, place.removeprefix("node_modules/"))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:  # npm tarballs hold package/...; checked above
        for member in archive.getmembers():
            name = os.path.normpath(member.name)
            if not member.isfile() or not name.startswith("package" + os.sep) or ".." in name.split(os.sep):
                continue
            path = os.path.join(destination, name.removeprefix("package" + os.sep))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            with open(path, "wb") as out:
                out.write(source.read())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
