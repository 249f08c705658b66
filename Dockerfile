# Build: docker build -t ks-network-apiserver .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
COPY openapi ./openapi
RUN cargo build --release --locked --bin ks-network-apiserver

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/ks-network-apiserver /usr/local/bin/ks-network-apiserver
COPY config/ks-network-apiserver.yaml /etc/ks-network-apiserver/config.yaml
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/ks-network-apiserver"]
CMD ["all", "--config", "/etc/ks-network-apiserver/config.yaml"]
