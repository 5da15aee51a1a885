# syntax=docker/dockerfile:1
# The Nullroom relay as a container (docs/OPERATING.md "In a container"). Its steps are those of
# apps/cli/test/package.test.ts: build in the repository and pack the tarball (scripts/pack-cli.mjs),
# then install that tarball with npm into an empty folder, and run `nullroom serve` from there.
#
#   docker build -t nullroom .
#   docker run -d -p 8443:8443 -v nullroom-data:/data nullroom
#     -> https://HOST:8443 with a self-signed certificate made once in the volume; its fingerprint
#        is in `docker logs` (clients: nullroom chat https://HOST:8443 --pin sha256:…)
#   docker run … nullroom serve --host 0.0.0.0 --port 8443 --data /data --cert /certs/fullchain.pem --key /certs/privkey.pem
#
# deploy/compose.yaml runs it behind Caddy with a real certificate.

# 1. Build and pack. node:20 (Debian, with python3, make and g++): better-sqlite3 builds here when
# no prebuilt binary can be downloaded. npm ci applies patches/ (postinstall) and builds (prepare).
FROM node:20-bookworm AS build
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund \
 && node scripts/pack-cli.mjs --out /pack

# 2. Install the tarball into an empty folder, from the registry, as a user without the repository
# would (same Debian and Node as the runtime stage, so the native module fits it).
FROM node:20-bookworm AS install
WORKDIR /opt/nullroom
COPY --from=build /pack/ /pack/
RUN echo '{"private":true,"allowScripts":{"better-sqlite3":true}}' > package.json \
 && npm install --no-audit --no-fund --no-update-notifier /pack/nullroom-*.tgz \
 && rm -rf /pack /root/.npm

# 3. Run: no compilers, no npm cache, no repository; a non-root user and one volume for the data.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
COPY --from=install /opt/nullroom /opt/nullroom
COPY deploy/healthcheck.mjs /opt/nullroom/healthcheck.mjs
RUN ln -s /opt/nullroom/node_modules/.bin/nullroom /usr/local/bin/nullroom \
 && mkdir -p /data \
 && chown node:node /data
USER node
# rooms.db, accounts.db, opaque-setup, tls/ and blobs/ (docs/OPERATING.md "Backups").
VOLUME /data
EXPOSE 8443
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["node", "/opt/nullroom/healthcheck.mjs"]
ENTRYPOINT ["nullroom"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8443", "--self-signed", "--data", "/data"]
