# Build: docker build --build-arg KSNET_COMMIT=$(git rev-parse --short=12 HEAD) -t ks-network-apiserver .
# The runtime image has only the stripped binary, the CA bundle (for kube-apiserver's TLS) and the default
# configuration; it runs as a non-root user and relies on the Deployment's probes (/livez, /readyz), not on a
# HEALTHCHECK.

FROM rust:1-bookworm AS build
WORKDIR /src
# A stripped binary: the release profile's line tables are for local profiling only. Set before the dependency
# layer, so both builds share one profile.
ENV CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols
# Dependencies first, in a layer of their own that only the manifests (and the benchmarks, which the manifest
# names) rebuild: the workspace's manifests with stub sources.
COPY Cargo.toml Cargo.lock ./
COPY crates/domain/Cargo.toml crates/domain/Cargo.toml
COPY benches benches
RUN mkdir -p src crates/domain/src \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs crates/domain/src/lib.rs \
 && echo 'fn main() {}' > build.rs \
 && cargo build --release --locked --bin ks-network-apiserver \
 && rm -rf src crates/domain/src build.rs
COPY . .
ARG KSNET_COMMIT=unknown
ENV KSNET_COMMIT=${KSNET_COMMIT}
RUN touch src/main.rs src/lib.rs crates/domain/src/lib.rs \
 && cargo build --release --locked --bin ks-network-apiserver

# Distroless (glibc, CA certificates, user 65532), pinned by digest: the `nonroot` tag's digest as public Dockerfiles
# pin it (no registry is reachable from the build machine to read it afresh); refresh it with
# `crane digest gcr.io/distroless/cc-debian12:nonroot` when the release pipeline updates base images.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
COPY --from=build /src/target/release/ks-network-apiserver /usr/local/bin/ks-network-apiserver
COPY config/ks-network-apiserver.yaml /etc/ks-network-apiserver/config.yaml
USER 65532:65532
# mimalloc commits its arenas as they are used: about 20 MB less resident at 20,000 pods (docs/benchmarks.md).
ENV MIMALLOC_ARENA_EAGER_COMMIT=0
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/ks-network-apiserver"]
CMD ["all", "--config", "/etc/ks-network-apiserver/config.yaml"]
