// Whether a brand colour may be used on the pages: buttons print white text on it and links print
// it on white, so both must reach WCAG 2.2 AA for normal text (4.5:1). White on a colour and that
// colour on white have the same contrast ratio, so one check covers both.
export const BRAND_COLOUR = /^#[0-9a-fA-F]{6}$/;
export const MIN_CONTRAST = 4.5;

/** WCAG 2.x relative luminance of an sRGB #rrggbb colour. */
export function luminance(hex: string): number {
  const channel = (i: number) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

/** The WCAG contrast ratio of two #rrggbb colours (1 to 21). */
export function contrastRatio(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

export type BrandColourProblem = { kind: 'format' } | { kind: 'contrast'; ratio: string };

/** Why `value` cannot be a brand colour, or undefined when it can. */
export function brandColourProblem(value: string): BrandColourProblem | undefined {
  if (!BRAND_COLOUR.test(value)) return { kind: 'format' };
  const ratio = contrastRatio(value, '#ffffff');
  // rounded down, so a colour shown as 4.5:1 really reaches it
  return ratio >= MIN_CONTRAST ? undefined : { kind: 'contrast', ratio: (Math.floor(ratio * 100) / 100).toFixed(2) };
}

/** The refusal as one sentence with the way forward (English: the console and the API). */
export function brandColourMessage(value: string, problem: BrandColourProblem): string {
  if (problem.kind === 'format') return `the brand colour must be written #rrggbb (six hexadecimal digits, e.g. #3b5bdb), got "${value.slice(0, 20)}"`;
  return `the brand colour ${value} has a contrast of only ${problem.ratio}:1 with white; white button text on it and links in it on white need at least ${MIN_CONTRAST}:1 (WCAG AA): choose a darker colour`;
}

/** The dark theme's card background (views/static/tessera.css): links in the brand colour are shown on it. */
export const DARK_SURFACE = '#1b212b';
/** Links on the dark theme aim above AA (4.5:1) so a shade does not sit on the limit. */
const DARK_TARGET = 6;

/**
 * A lighter shade of `hex` that reads on the dark theme (on DARK_SURFACE): the colour mixed
 * with white in steps of 5 % until it reads comfortably (6:1). White on the colour itself (buttons) needs no shade.
 */
export function shadeForDark(hex: string): string {
  const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  for (let step = 0; step <= 20; step++) {
    const mixed = `#${rgb.map((c) => Math.round(c + (255 - c) * step / 20).toString(16).padStart(2, '0')).join('')}`;
    if (contrastRatio(mixed, DARK_SURFACE) >= DARK_TARGET) return mixed;
  }
  return '#ffffff';
}
