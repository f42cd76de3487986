// The live page: `npm run web:build` writes static files to web/dist, which
// `make web` serves behind Envoy. `npx vite web` serves it for development
// (on :5173, calling the grpc-web bridge at ?api=http://127.0.0.1:8080).
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: true },
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
});
