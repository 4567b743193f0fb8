import { createHash } from 'node:crypto';

/**
 * A deterministic abstract scene from a prompt and a seed: the same words and seed always
 * give the same SVG, so the same request always renders the same bytes. Colour words in the
 * prompt steer the palette, so "a red fox" and "a blue whale" look different.
 */

const COLOUR_WORDS: Readonly<Record<string, number>> = {
  red: 0,
  crimson: 350,
  orange: 28,
  amber: 40,
  gold: 45,
  golden: 45,
  yellow: 55,
  lime: 90,
  green: 125,
  forest: 140,
  teal: 175,
  cyan: 185,
  sky: 200,
  blue: 220,
  ocean: 205,
  indigo: 250,
  purple: 275,
  violet: 280,
  magenta: 310,
  pink: 330,
  rose: 340,
  sunset: 15,
  fire: 10,
  snow: 210,
  ice: 195,
  night: 235,
};

/** mulberry32: tiny, fast and good enough for picking shapes; not for anything secret. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SceneInput {
  prompt: string;
  model: string;
  seed: number;
  width: number;
  height: number;
  /** Variation within a batch, so four images of one request differ. */
  index: number;
}

interface Blob {
  x: number;
  y: number;
  r: number;
  hue: number;
  opacity: number;
  dx: number;
  dy: number;
}

export interface Scene {
  width: number;
  height: number;
  hues: [number, number];
  blobs: Blob[];
  sun: { x: number; y: number; r: number; hue: number };
  horizon: number;
}

export function buildScene(input: SceneInput): Scene {
  const digest = createHash('sha256')
    .update(`${input.model}\n${input.seed}\n${input.index}\n${input.prompt.toLowerCase()}`)
    .digest();
  const random = prng(digest.readUInt32LE(0));
  const words = input.prompt.toLowerCase().match(/[a-z]+/g) ?? [];
  const named = words.map((w) => COLOUR_WORDS[w]).filter((h): h is number => h !== undefined);
  const baseHue = named[0] ?? Math.floor(random() * 360);
  const secondHue = named[1] ?? (baseHue + 40 + Math.floor(random() * 140)) % 360;
  const { width, height } = input;
  const blobCount = 5 + Math.floor(random() * 7);
  const blobs: Blob[] = [];
  for (let i = 0; i < blobCount; i += 1) {
    blobs.push({
      x: random() * width,
      y: random() * height,
      r: (0.08 + random() * 0.25) * Math.min(width, height),
      hue: (random() < 0.6 ? baseHue : secondHue) + Math.floor(random() * 30) - 15,
      opacity: 0.25 + random() * 0.5,
      dx: (random() - 0.5) * 0.2 * width,
      dy: (random() - 0.5) * 0.2 * height,
    });
  }
  return {
    width,
    height,
    hues: [baseHue, secondHue],
    blobs,
    sun: {
      x: (0.2 + random() * 0.6) * width,
      y: (0.15 + random() * 0.3) * height,
      r: (0.06 + random() * 0.08) * Math.min(width, height),
      hue: (secondHue + 180) % 360,
    },
    horizon: (0.55 + random() * 0.25) * height,
  };
}

const f = (n: number): string => n.toFixed(1);

/** The scene as SVG at animation phase `t` in [0, 1); still images use t = 0. */
export function sceneToSvg(scene: Scene, t = 0): string {
  const [h1, h2] = scene.hues;
  const swing = Math.sin(t * Math.PI * 2);
  const blobs = scene.blobs
    .map((b, i) => {
      const x = b.x + b.dx * swing;
      const y = b.y + b.dy * Math.cos(t * Math.PI * 2);
      return (
        `<radialGradient id="b${i}"><stop offset="0" stop-color="hsl(${b.hue},80%,65%)" stop-opacity="${b.opacity.toFixed(2)}"/>` +
        `<stop offset="1" stop-color="hsl(${b.hue},80%,50%)" stop-opacity="0"/></radialGradient>` +
        `<circle cx="${f(x)}" cy="${f(y)}" r="${f(b.r)}" fill="url(#b${i})"/>`
      );
    })
    .join('');
  const sunY = scene.sun.y + swing * scene.sun.r * 0.5;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}" viewBox="0 0 ${scene.width} ${scene.height}">` +
    `<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">` +
    `<stop offset="0" stop-color="hsl(${h1},60%,22%)"/><stop offset="1" stop-color="hsl(${h2},70%,60%)"/></linearGradient>` +
    `<linearGradient id="ground" x1="0" y1="0" x2="0" y2="1">` +
    `<stop offset="0" stop-color="hsl(${h2},45%,30%)"/><stop offset="1" stop-color="hsl(${h1},50%,12%)"/></linearGradient></defs>` +
    `<rect width="100%" height="100%" fill="url(#sky)"/>` +
    `<circle cx="${f(scene.sun.x)}" cy="${f(sunY)}" r="${f(scene.sun.r)}" fill="hsl(${scene.sun.hue},90%,75%)"/>` +
    blobs +
    `<rect x="0" y="${f(scene.horizon)}" width="${scene.width}" height="${f(scene.height - scene.horizon)}" fill="url(#ground)" opacity="0.85"/>` +
    `</svg>`
  );
}
