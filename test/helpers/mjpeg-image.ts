/** Reading MJPEG over HTTP in tests. */
import http from 'node:http';

/** The first whole JPEG image (SOI to EOI) of an MJPEG stream at `url`, within `ms`. */
export function firstMjpegImage(url: string, ms = 15000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no image from ${url} in ${ms / 1000} s`));
    }, ms);
    const req = http.get(url, (res) => {
      let buf = Buffer.alloc(0);
      res.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        const start = buf.indexOf(Buffer.from([0xff, 0xd8]));
        const end = start >= 0 ? buf.indexOf(Buffer.from([0xff, 0xd9]), start) : -1;
        if (end > 0) {
          clearTimeout(timer);
          req.destroy();
          resolve(buf.subarray(start, end + 2));
        }
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
