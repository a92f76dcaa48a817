/**
 * A listening side's TLS certificate and key, read from PEM files and checked before anything
 * listens: a file that is not a certificate, not a key, an encrypted key, or a key that is not the
 * certificate's ends the command with exit 2 and a line naming the file (docs/cli.md).
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { UsageError } from './args.js';
import { readPem, type TlsFlags } from './common.js';

/** Where each file came from, for the message: a flag (`--tls-cert`) or a config key (`tls.cert`). */
export interface TlsFileNames {
  cert: string;
  key: string;
  ca?: string;
}

function privateKey(pem: Buffer): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    return undefined;
  }
}

function certificate(pem: Buffer): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** Reads and checks the files; returns what `tls.createSecureContext` takes. */
export function serverTlsFiles(names: TlsFileNames, files: { cert: string; key: string; ca?: string }): { cert: Buffer; key: Buffer; ca?: Buffer } {
  const cert = readPem(names.cert, files.cert);
  const key = readPem(names.key, files.key);
  const x509 = certificate(cert);
  if (!x509) {
    if (privateKey(cert)) throw new UsageError(`${names.cert}: ${files.cert} holds a private key, not a certificate: are the certificate and the key swapped?`);
    throw new UsageError(`${names.cert}: ${files.cert} is not a PEM certificate (-----BEGIN CERTIFICATE-----): give the server's certificate`);
  }
  // An encrypted key would make OpenSSL ask for a passphrase; camwire has no way to give one.
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key.toString('latin1'))) {
    throw new UsageError(`${names.key}: ${files.key} is encrypted with a passphrase: give it unencrypted (openssl pkey -in ${files.key} -out key.pem)`);
  }
  const k = privateKey(key);
  if (!k) {
    if (certificate(key)) throw new UsageError(`${names.key}: ${files.key} holds a certificate, not a private key: are the certificate and the key swapped?`);
    throw new UsageError(`${names.key}: ${files.key} is not a PEM private key (-----BEGIN PRIVATE KEY-----): give the certificate's private key`);
  }
  if (!x509.checkPrivateKey(k)) throw new UsageError(`${names.key}: ${files.key} is not the private key of the certificate in ${files.cert}: give the key that was made with it`);
  let ca: Buffer | undefined;
  if (files.ca) {
    ca = readPem(names.ca ?? 'ca', files.ca);
    if (!certificate(ca)) throw new UsageError(`${names.ca ?? 'ca'}: ${files.ca} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return { cert, key, ca };
}

/** TLS for a side that listens (`send`/`receive --listen`): --tls-cert and --tls-key. */
export function tlsServer(f: TlsFlags): { cert: Buffer; key: Buffer } | undefined {
  if (!f.tlsCert && !f.tlsKey) return undefined;
  if (!f.tlsCert || !f.tlsKey) throw new UsageError('--tls-cert and --tls-key go together');
  const { cert, key } = serverTlsFiles({ cert: '--tls-cert', key: '--tls-key' }, { cert: f.tlsCert, key: f.tlsKey });
  return { cert, key };
}
