# leaksentry: the scanner, the bot, the workers and the console in one image.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEAKSENTRY_DATA_DIR=/data

WORKDIR /app
COPY scripts/install.sh scripts/install.sh
COPY pyproject.toml README.md ./
COPY detectors detectors
COPY bot bot
COPY config config
# The same install script as a developer machine and CI, without the test tools.
RUN bash scripts/install.sh --no-dev && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 leaksentry && mkdir -p /data && chown leaksentry /data
USER leaksentry
VOLUME ["/data"]
ENTRYPOINT ["leaksentry"]
CMD ["--help"]
