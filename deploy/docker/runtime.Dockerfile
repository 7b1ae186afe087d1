# The runtime: the container of an agent pod that runs the conversations. The operator puts this
# image (OMNIA_RUNTIME_IMAGE) beside the gateway image in every agent pod.
#   docker build -f deploy/docker/runtime.Dockerfile -t omnia-runtime:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p omnia-runtime --bin omnia-runtime

# The binary links glibc and libgcc_s dynamically, which the distroless "cc" image carries; its
# "nonroot" variant already runs as 65532, set again here so the image says so itself.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/omnia-runtime /usr/local/bin/omnia-runtime
USER 65532:65532
# 9000: gRPC, bound to the pod's loopback unless OMNIA_RUNTIME_LISTEN says otherwise (only the
# gateway beside it calls it), so it is listed here for documentation only; 9001: metrics.
EXPOSE 9000 9001
ENTRYPOINT ["/usr/local/bin/omnia-runtime"]
CMD ["--config", "/etc/omnia/config"]
