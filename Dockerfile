# The Threadline engine. Asterisk has its own image (asterisk_conf/Dockerfile).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY asterisk_conf ./asterisk_conf
COPY ivr_flows ./ivr_flows
RUN pip install --no-cache-dir -e . && mkdir -p /app/recordings /var/lib/threadline

EXPOSE 8080
CMD ["threadline", "run"]
