# syntax=docker/dockerfile:1
# Multi-stage build of the `catalyst` image: a Rust builder that runs the same
# scripts/build-release used outside docker, then a slim runtime as a non-root user.

FROM rust:1.95-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Tools first, so that source changes do not reinstall them.
COPY scripts/tools.sh scripts/tools.sh
RUN bash -c 'source scripts/tools.sh && ensure_rust_tools'
COPY . .
RUN scripts/build-release \
 && mkdir -p /out \
 && cp target/release/catalyst /out/catalyst \
 && cp -r target/site /out/site

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/catalyst --create-home catalyst
COPY --from=builder /out/catalyst /usr/local/bin/catalyst
COPY --from=builder /out/site /usr/share/catalyst/site
ENV LEPTOS_SITE_ROOT=/usr/share/catalyst/site \
    CATALYST_BIND=0.0.0.0:3000 \
    CATALYST_DATABASE_URL=sqlite:///var/lib/catalyst/catalyst.db?mode=rwc \
    RUST_LOG=info
WORKDIR /var/lib/catalyst
USER 10001:10001
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/catalyst"]
CMD ["serve"]
