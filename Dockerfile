# tlswatch in a container: built with the same commands as README command 1
# (scripts/bootstrap.sh, cargo xtask build), run as a non-root user from one binary.
#
#   docker build -t tlswatch .
#   docker run -p 3000:3000 -v tlswatch-data:/data tlswatch
#
# With PostgreSQL: compose.yaml.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/bootstrap.sh && cargo xtask build && strip target/release/tlswatch

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tlswatch \
 && install -d -o tlswatch -g tlswatch -m 0750 /data
COPY --from=build /src/target/release/tlswatch /usr/bin/tlswatch
USER tlswatch
WORKDIR /data
ENV TLSWATCH_DATA_DIR=/data \
    TLSWATCH_LISTEN=0.0.0.0:3000
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3000 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/bin/tlswatch"]
CMD ["serve"]
