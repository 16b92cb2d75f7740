# The Threadline engine, on Debian 12's own Python 3.11. Asterisk has its own image (asterisk_conf/Dockerfile).
# debian:bookworm-slim can be built without a registry: containers/base-images.sh.
FROM debian:bookworm-slim AS python

# espeak-ng and sox render text prompts to 8 kHz WAV for Asterisk; python3-venv keeps pip off Debian's python.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv ca-certificates espeak-ng sox \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/threadline
ENV PATH=/opt/threadline/bin:$PATH PYTHONDONTWRITEBYTECODE=1

# The engine's requirements, read from pyproject.toml: a change elsewhere in that file (the test extras)
# yields the same requirements.txt, so the install below stays cached.
# .[ko]: Vosk and the small Korean model (the offline demo); other languages: `threadline models install`.
FROM python AS requirements
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c 'import tomllib; p = tomllib.load(open("/tmp/pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["ko"]))' \
      > /tmp/requirements.txt

# The browser libraries (SIP.js, Chart.js), exactly the tarballs package-lock.json pins (sha512 checked): the
# same files `make install` gets with `npm ci`, without putting Node.js in the image.
FROM python AS web-vendor
COPY package-lock.json /tmp/package-lock.json
COPY containers/fetch_web_vendor.py /tmp/fetch_web_vendor.py
RUN --mount=type=secret,id=host-ca-certificates python3 /tmp/fetch_web_vendor.py /tmp/package-lock.json /opt/node_modules

FROM python
WORKDIR /app
COPY --from=requirements /tmp/requirements.txt /tmp/requirements.txt
# The build trusts the CAs its host trusts (the build secret host-ca-certificates, which docker-compose.yml
# takes from the host's /etc/ssl/certs/ca-certificates.crt): a host behind an inspecting HTTPS proxy needs
# that to reach PyPI. The bundle is only mounted for this step; it is not kept in the image.
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=host-ca-certificates \
    if [ -s /run/secrets/host-ca-certificates ]; then export PIP_CERT=/run/secrets/host-ca-certificates; fi \
 && pip install -q --upgrade pip setuptools \
 && pip install -q -r /tmp/requirements.txt
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY asterisk_conf ./asterisk_conf
COPY ivr_flows ./ivr_flows
COPY --from=web-vendor /opt/node_modules ./node_modules
# Editable: the engine finds asterisk_conf/templates and ivr_flows beside its code, in /app.
RUN pip install -q --no-deps --no-build-isolation -e . && mkdir -p /app/recordings /var/lib/threadline

# 8080: /healthz and /status; 8090: Asterisk's outbound ARI websocket (loopback, host network).
EXPOSE 8080 8090
CMD ["threadline", "run"]
