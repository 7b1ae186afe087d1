# The facade: the container of an agent pod that clients connect to. The operator puts this image
# (OMNIA_GATEWAY_IMAGE) beside the runtime image in every agent pod.
#   docker build -f deploy/docker/gateway.Dockerfile -t omnia-gateway:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p omnia-gateway --bin omnia-gateway

# The binary links glibc and libgcc_s dynamically, which the distroless "cc" image carries; its
# "nonroot" variant already runs as 65532, set again here so the image says so itself.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/omnia-gateway /usr/local/bin/omnia-gateway
USER 65532:65532
# 8080: the facade (HTTP and WebSocket); 8081: health and metrics.
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/omnia-gateway"]
CMD ["serve", "--config", "/etc/omnia/config"]
