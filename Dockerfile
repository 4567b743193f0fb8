# syntax=docker/dockerfile:1
# One image for every role: `node dist/src/main.js [all|bot|worker]`. Node 24 (LTS) in both stages.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY commands ./commands
COPY scripts ./scripts
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The console CLI saves generated files under ./output; the app runs as `node`, not root.
RUN mkdir -p /app/output && chown node:node /app/output
USER node
CMD ["node", "dist/src/main.js"]
