# syntax=docker/dockerfile:1
# inference-fabric: one image, three entry points. TypeScript runs through tsx at runtime
# (a production dependency), so there is no build step.
#
#   API (default)  node --import tsx producer-api/main.ts
#   worker         node --import tsx worker/main.ts      (compose: command: ["node","--import","tsx","worker/main.ts"])
#   scheduler      node --import tsx scheduler/main.ts   (compose: command: ["node","--import","tsx","scheduler/main.ts"])
#   all-in-one     node --import tsx bin/start.ts        (needs REDIS_URL, or redis-server in the image)

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- deps: production dependencies only --------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production \
    # node-llama-cpp ships prebuilt llama.cpp binaries (CPU, CUDA, Vulkan) in its npm packages:
    # never download or compile one while building the image.
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
COPY package.json package-lock.json ./
# client/ is an npm workspace: npm ci needs its manifest (the server uses its error-code list).
COPY client/package.json ./client/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime --------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
    HOST=0.0.0.0 \
    PORT=8080 \
    FABRIC_MODELS_DIR=/app/models
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
COPY --chown=node:node protocol ./protocol
COPY --chown=node:node client/src ./client/src
COPY --chown=node:node producer-api ./producer-api
COPY --chown=node:node worker ./worker
COPY --chown=node:node scheduler ./scheduler
COPY --chown=node:node bin ./bin
# The embedded engine writes the demo models here when it finds none (mount a volume over it).
RUN mkdir -p /app/models && chown node:node /app/models
# The image's unprivileged `node` user (uid 1000).
USER node
# 8080: API; 9091: worker /healthz and /metrics; 9092: scheduler /healthz, /metrics, /v1/scale.
EXPOSE 8080 9091 9092
CMD ["node", "--import", "tsx", "producer-api/main.ts"]
