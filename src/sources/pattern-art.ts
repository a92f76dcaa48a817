/**
 * What the test pattern draws with: its 5x7 bitmap font and its colours as RGBA words in the
 * machine's byte order (one 32-bit store per pixel). Pure data, no drawing.
 */
export const GLYPH_W = 5;
export const GLYPH_H = 7;
/** Glyph width plus one column of spacing. */
export const CELL_W = GLYPH_W + 1;

/** The 5x7 font: one string per row, '#' = ink. Characters without a glyph are drawn as spaces. */
const FONT_SOURCE: Readonly<Record<string, string>> = {
  '0': '.###. #...# #..## #.#.# ##..# #...# .###.',
  '1': '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  '2': '.###. #...# ....# ...#. ..#.. .#... #####',
  '3': '##### ...#. ..#.. ...#. ....# #...# .###.',
  '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  '5': '##### #.... ####. ....# ....# #...# .###.',
  '6': '..##. .#... #.... ####. #...# #...# .###.',
  '7': '##### ....# ...#. ..#.. .#... .#... .#...',
  '8': '.###. #...# #...# .###. #...# #...# .###.',
  '9': '.###. #...# #...# .#### ....# ...#. .##..',
  ':': '..... .##.. .##.. ..... .##.. .##.. .....',
  '.': '..... ..... ..... ..... ..... .##.. .##..',
  '-': '..... ..... ..... ##### ..... ..... .....',
  '_': '..... ..... ..... ..... ..... ..... #####',
  '/': '....# ....# ...#. ..#.. .#... #.... #....',
  A: '.###. #...# #...# ##### #...# #...# #...#',
  B: '####. #...# #...# ####. #...# #...# ####.',
  C: '.###. #...# #.... #.... #.... #...# .###.',
  D: '###.. #..#. #...# #...# #...# #..#. ###..',
  E: '##### #.... #.... ####. #.... #.... #####',
  F: '##### #.... #.... ####. #.... #.... #....',
  G: '.###. #...# #.... #.### #...# #...# .####',
  H: '#...# #...# #...# ##### #...# #...# #...#',
  I: '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  J: '..### ...#. ...#. ...#. ...#. #..#. .##..',
  K: '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
  L: '#.... #.... #.... #.... #.... #.... #####',
  M: '#...# ##.## #.#.# #.#.# #...# #...# #...#',
  N: '#...# #...# ##..# #.#.# #..## #...# #...#',
  O: '.###. #...# #...# #...# #...# #...# .###.',
  P: '####. #...# #...# ####. #.... #.... #....',
  Q: '.###. #...# #...# #...# #.#.# #..#. .##.#',
  R: '####. #...# #...# ####. #.#.. #..#. #...#',
  S: '.#### #.... #.... .###. ....# ....# ####.',
  T: '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  U: '#...# #...# #...# #...# #...# #...# .###.',
  V: '#...# #...# #...# #...# #...# .#.#. ..#..',
  W: '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
  X: '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  Y: '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
  Z: '##### ....# ...#. ..#.. .#... #.... #####',
};

/** FONT_SOURCE as a lookup table: 7 row bitmasks (bit 4 = leftmost column) per ASCII code. */
export const FONT: Uint8Array = (() => {
  const table = new Uint8Array(128 * GLYPH_H);
  for (const [ch, rows] of Object.entries(FONT_SOURCE)) {
    rows.split(' ').forEach((row, y) => {
      let bits = 0;
      for (let x = 0; x < GLYPH_W; x++) if (row[x] === '#') bits |= 1 << (GLYPH_W - 1 - x);
      table[ch.charCodeAt(0) * GLYPH_H + y] = bits;
    });
  }
  return table;
})();

/** Pixels are written as 32-bit words over the RGBA bytes; the word's byte order follows the CPU. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function rgba(r: number, g: number, b: number): number {
  return LITTLE_ENDIAN ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0;
}

export const BLACK = rgba(0, 0, 0);
export const WHITE = rgba(255, 255, 255);
/** Full-intensity bars: white, yellow, cyan, green, magenta, red, blue. */
export const BARS = [
  rgba(255, 255, 255),
  rgba(255, 255, 0),
  rgba(0, 255, 255),
  rgba(0, 255, 0),
  rgba(255, 0, 255),
  rgba(255, 0, 0),
  rgba(0, 0, 255),
];
export const GREYS = Array.from({ length: 256 }, (_, v) => rgba(v, v, v));
