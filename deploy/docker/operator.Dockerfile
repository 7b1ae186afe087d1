# The operator: reconciles the Omnia custom resources into agent Deployments and tunes their
# replicas. Deployed by the Helm chart (deploy/helm/omnia) or the kustomize base.
#   docker build -f deploy/docker/operator.Dockerfile -t omnia-operator:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p omnia-operator --bin omnia-operator

# The binary links glibc and libgcc_s dynamically, which the distroless "cc" image carries; its
# "nonroot" variant already runs as 65532, set again here so the image says so itself.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/omnia-operator /usr/local/bin/omnia-operator
USER 65532:65532
# 8081: health (/healthz, /readyz) and metrics, at OMNIA_OPERATOR_HEALTH_LISTEN.
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/omnia-operator"]
