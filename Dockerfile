# bucketkey: a static binary on a distroless base, running as non-root.
#   docker build -t bucketkey .
#   docker run --rm -p 8080:8080 -p 127.0.0.1:9090:9090 -e BUCKETKEY_UPSTREAM=... bucketkey serve
# Secrets go in the environment (BUCKETKEY_CLIENT_SECRET_KEY, ...) or mounted
# files (--credentials, --admin-token-file), never in flags.
# The build step below is the README's build command, character for character
# (cmd/bucketkey's TestDockerfileBuildsLikeTheReadme checks it).

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o bucketkey ./cmd/bucketkey

# distroless/static: CA certificates and tzdata, no shell, no package manager;
# the :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bucketkey /usr/local/bin/bucketkey
USER 65532:65532
# In a container the listeners must not be loopback-only; flags override these.
# The admin listener serves no profiles unless --admin-pprof; where others can
# reach it, set BUCKETKEY_ADMIN_TOKEN_FILE.
ENV BUCKETKEY_LISTEN=0.0.0.0:8080 \
    BUCKETKEY_ADMIN_LISTEN=0.0.0.0:9090 \
    BUCKETKEY_LOG_FORMAT=json
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/bucketkey"]
CMD ["serve"]
