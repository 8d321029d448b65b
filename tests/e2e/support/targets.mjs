// Probe targets for the console's end-to-end test, all on loopback:
// - a TCP listener that accepts and closes (an "ACTIVE" destination in --probe-mode tcp);
// - a DNS server for dsconn's --dns-server: names under e2e.test resolve to 127.0.0.1,
//   after a delay for names starting with "slow", so a connection stays CREATING long
//   enough to watch the console refresh it; every other name is NXDOMAIN.
// Prints one JSON line {"tcp_port", "dns_port"} and runs until it is killed.

import dgram from 'node:dgram';
import net from 'node:net';

const SLOW_MS = Number(process.env.E2E_SLOW_DNS_MS ?? 4000);

const tcp = net.createServer((socket) => socket.destroy());
tcp.on('error', (error) => { console.error(error); process.exit(1); });

/** The question's name (lower case, no trailing dot) and where the question ends. */
function question(packet) {
  const labels = [];
  let at = 12;
  while (at < packet.length && packet[at] !== 0) {
    const length = packet[at];
    if (length > 63) return null; // compression is never used in a question we get
    labels.push(packet.subarray(at + 1, at + 1 + length).toString('latin1'));
    at += 1 + length;
  }
  if (at + 5 > packet.length) return null;
  return { name: labels.join('.').toLowerCase(), end: at + 5, type: packet.readUInt16BE(at + 1) };
}

function answer(packet, q) {
  const known = q.name === 'e2e.test' || q.name.endsWith('.e2e.test');
  const withAddress = known && q.type === 1; // A; AAAA and others get no record
  const header = Buffer.alloc(12);
  packet.copy(header, 0, 0, 2); // id
  const rd = packet[2] & 0x01;
  header[2] = 0x84 | rd; // QR, AA, RD as asked
  header[3] = known ? 0x80 : 0x83; // RA, NOERROR or NXDOMAIN
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(withAddress ? 1 : 0, 6);
  const body = packet.subarray(12, q.end);
  if (!withAddress) return Buffer.concat([header, body]);
  const record = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 127, 0, 0, 1]);
  return Buffer.concat([header, body, record]);
}

const dns = dgram.createSocket('udp4');
dns.on('message', (packet, peer) => {
  const q = question(packet);
  if (!q) return;
  const reply = answer(packet, q);
  const delay = q.name.startsWith('slow') ? SLOW_MS : 0;
  setTimeout(() => dns.send(reply, peer.port, peer.address), delay);
});
dns.on('error', (error) => { console.error(error); process.exit(1); });

await new Promise((resolve) => tcp.listen(0, '127.0.0.1', resolve));
await new Promise((resolve) => dns.bind(0, '127.0.0.1', resolve));
console.log(JSON.stringify({ tcp_port: tcp.address().port, dns_port: dns.address().port }));

const stop = () => { tcp.close(); dns.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
