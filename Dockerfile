# Tessera on Node 24 against an external MongoDB (see docker-compose.yml).
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY src ./src
COPY views ./views
COPY config ./config
USER node
EXPOSE 3000
CMD ["node", "src/main.ts"]
