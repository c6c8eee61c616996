// Vite builds the single-page application in app/ into dist/, served by the manager at /client/.
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

export default defineConfig({
  base: '/client/',
  plugins: [vue()],
  build: { outDir: 'dist', target: 'es2022', chunkSizeWarningLimit: 600, reportCompressedSize: false },
});
