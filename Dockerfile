# bulwark: a small, non-root image.
#   docker build -t bulwark:0.1.0 .
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin bulwark && strip target/release/bulwark

# distroless/cc has glibc and nothing else: no shell, no package manager. Its uid 65532 is
# the "nonroot" user the Deployment in deploy/ runs as.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/bulwark /usr/local/bin/bulwark
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/bulwark"]
CMD ["serve", "--tls-cert=/etc/bulwark/tls/tls.crt", "--tls-key=/etc/bulwark/tls/tls.key"]
