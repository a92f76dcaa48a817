/** The examples at the end of each command's `--help` (the same commands as docs/cli.md). */
export const EXAMPLES = {
  root: [
    '$ camwire demo                                            # a server and a test pattern; open http://127.0.0.1:7780/',
    '$ camwire server                                          # relay: tcp 7700, udp 7701, http 7780 (viewer)',
    '$ camwire send --server tcp://127.0.0.1:7700 --id cam1    # push the test pattern to it',
    '$ camwire receive --server 127.0.0.1:7700 --id desk --play',
    '$ camwire <command> --help                                # flags and examples of one command',
  ],
  server: [
    '$ camwire server                                          # all addresses; state in ./camwire-data',
    '$ camwire server --host 127.0.0.1 --memory --log-level debug',
    '$ camwire server --config camwire.yaml                    # users, ports, TLS (docs/cli.md)',
    '$ camwire server --tls-cert cert.pem --tls-key key.pem --udp-port off',
  ],
  send: [
    '$ camwire send --server 127.0.0.1:7800 --id cam1                       # test pattern to a receiver (mode A)',
    '$ camwire send --server tcp://server.example --id cam1 --to desk       # through a server (port 7700)',
    '$ camwire send --server udp://server.example --input clip.mp4 --loop   # a video file over UDP (port 7701)',
    '$ camwire send --server http://server.example --id cam1 --camera       # a camera over HTTP (port 7780)',
    '$ camwire send --server 127.0.0.1:7800 --file ./big.iso                # a file, resumable, then exit',
    '$ camwire send --server 127.0.0.1:7800 --id ops --command zoom --param level=2',
    '$ echo hello | camwire send --server 127.0.0.1:7800 --stdin',
    '$ camwire send --listen 7801 --id cam1                                 # serve pulling receivers (mode B)',
  ],
  receive: [
    '$ camwire receive --listen 7800 --files ./inbox                        # take pushes (mode A)',
    '$ camwire receive --from 127.0.0.1:7801 --mjpeg-port 7802              # pull from a sender (mode B)',
    '$ camwire receive --server tcp://server.example --id desk --play       # pull from a server (mode C)',
    '$ camwire receive --server 127.0.0.1:7700 --id desk --save out.mp4 --count 300',
  ],
  demo: ['$ camwire demo', '$ camwire demo --http-port 8080 --tcp-port 8000'],
};
