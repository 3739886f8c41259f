# syntax=docker/dockerfile:1
# inference-fabric: one image, three entry points. Node 24 runs the TypeScript sources itself
# (type stripping: the code uses only erasable syntax), so there is no build step.
#
#   API (default)  node producer-api/main.ts
#   worker         node worker/main.ts      (compose: command: ["node","worker/main.ts"])
#   scheduler      node scheduler/main.ts   (compose: command: ["node","scheduler/main.ts"])
#   all-in-one     node bin/start.ts        (needs REDIS_URL, or redis-server in the image)
#
# Target `gpu-worker` (docker build --target gpu-worker): the Ollama image with Node added; the
# worker starts and supervises `ollama serve` as its child, in the one container that owns the
# GPU, and reads NVML itself. k8s/ and docker-compose.yml run their GPU workers from it.

ARG NODE_IMAGE=node:24-bookworm-slim
ARG OLLAMA_IMAGE=ollama/ollama:latest

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
# --ignore-scripts: the root `prepare` builds the client with tsc, a dev dependency, and no
# dependency needs an install script here (node-llama-cpp's binaries are in its npm packages).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- gpu-worker: Ollama + Node; the worker supervises `ollama serve` --------------------------
# Before `runtime`, so a plain `docker build` still produces the default image.
FROM ${NODE_IMAGE} AS node
FROM ${OLLAMA_IMAGE} AS gpu-worker
WORKDIR /app
# Node's official binary (glibc); the Ollama image is Ubuntu-based with a newer glibc.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
ENV NODE_ENV=production \
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
    FABRIC_ENGINE=ollama \
    FABRIC_OLLAMA_SERVE=1 \
    FABRIC_OLLAMA_COMMAND=/bin/ollama \
    OLLAMA_URL=http://127.0.0.1:11434
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY protocol ./protocol
COPY store ./store
COPY worker ./worker
# 9091: worker /healthz and /metrics; 11434: Ollama (the worker's child; also its own clients).
EXPOSE 9091 11434
# The Ollama image's entry point is `ollama`; the worker is this image's process instead.
ENTRYPOINT []
CMD ["node", "worker/main.ts"]

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
COPY --chown=node:node store ./store
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
CMD ["node", "producer-api/main.ts"]
