# medic on a management node: a container that watches the node's containers through the mounted
# Docker socket. Build it from a checkout after `npm ci` (which builds dist/): the image packages
# that build and the production half of node_modules; the build itself needs no npm and no registry.
#
#   docker build -t medic .                                   # Debian bookworm-slim, Node from node:20-bookworm-slim
#   docker build --build-arg BASE=my/debian --build-arg NODE_IMAGE=my/node -t medic .
#
# BASE: the root filesystem (glibc, a shell, useradd), Debian 12 or alike; it needs no Node.
# NODE_IMAGE: any image with a Node >= 20.19 binary at /usr/local/bin/node (as the official node
# images have it); only that one file is copied. README.md "Run in a container" shows both.
ARG BASE=debian:bookworm-slim
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS node

FROM ${BASE} AS runtime
COPY --from=node /usr/local/bin/node /usr/local/bin/node
# A fixed uid and gid, so a state directory mounted from the host can be chown'ed to them ahead of time;
# `medic` on the PATH for `docker exec NAME medic incidents`.
RUN node --version \
 && groupadd --system --gid 10001 medic \
 && useradd --system --uid 10001 --gid medic --home-dir /var/lib/medic --no-create-home --shell /usr/sbin/nologin medic \
 && mkdir -p /var/lib/medic /etc/medic \
 && chown medic:medic /var/lib/medic \
 && chmod 0750 /var/lib/medic \
 && printf '#!/bin/sh\nexec node /opt/medic/dist/cli/main.js "$@"\n' > /usr/local/bin/medic \
 && chmod 0755 /usr/local/bin/medic

# The production dependencies only, picked from the context's node_modules by package-lock.json.
FROM runtime AS modules
WORKDIR /build
COPY package.json package-lock.json scripts/production-modules.mjs ./
COPY node_modules ./node_modules
RUN node production-modules.mjs /build /out

FROM runtime
WORKDIR /opt/medic
# Least-changing first, so a rebuild after a code change reuses the node_modules layer.
COPY --from=modules /out/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY playbooks ./playbooks
COPY schema ./schema
COPY dist ./dist
ENV NODE_ENV=production \
    MEDIC_CONFIG=/etc/medic/medic.yaml
# The journal, outbox, pauses: what lets a restarted medic carry on. Mount a named volume here.
VOLUME /var/lib/medic
USER medic:medic
# The API answers /healthz on 127.0.0.1:9464 by default (MEDIC_HEALTHZ_URL when the config moves it).
# Node itself checks it: the base needs no curl or wget.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.MEDIC_HEALTHZ_URL || 'http://127.0.0.1:9464/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# medic stops within 10 s of SIGTERM: give it that (docker run --stop-timeout 15, or stop_grace_period in Compose).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/medic/dist/cli/main.js"]
CMD ["run"]
