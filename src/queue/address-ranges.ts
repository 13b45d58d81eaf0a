// Which special-purpose range an IP address is in (loopback, private, link-local, …): the ranges a
// webhook may not reach unless private webhooks are allowed. Pure: parses literal addresses only,
// never resolves a name. IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d,
// IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96) are judged by the IPv4 address they carry.
import { isIPv4, isIPv6 } from 'node:net';

export type AddressRange =
  'unspecified' | 'loopback' | 'private' | 'link-local' | 'shared (CGNAT)' | 'multicast' | 'reserved';

/** [first octets…, prefix length, range]: IPv4 blocks, most specific reasons first. */
const IPV4_BLOCKS: [number[], number, AddressRange][] = [
  [[0], 8, 'unspecified'], // "this network"; 0.0.0.0 reaches the local host on Linux
  [[127], 8, 'loopback'],
  [[10], 8, 'private'],
  [[172, 16], 12, 'private'],
  [[192, 168], 16, 'private'],
  [[169, 254], 16, 'link-local'], // includes cloud metadata (169.254.169.254)
  [[100, 64], 10, 'shared (CGNAT)'],
  [[192, 0, 0], 24, 'reserved'], // IETF protocol assignments
  [[198, 18], 15, 'reserved'], // benchmarking
  [[224], 4, 'multicast'],
  [[240], 4, 'reserved'], // includes 255.255.255.255
];

const IPV6_BLOCKS: [number[], number, AddressRange][] = [
  [[0xfc], 7, 'private'], // unique local fc00::/7
  [[0xfe, 0x80], 10, 'link-local'],
  [[0xfe, 0xc0], 10, 'private'], // deprecated site-local
  [[0xff], 8, 'multicast'],
];

function inBlock(bytes: readonly number[], prefix: readonly number[], bits: number): boolean {
  for (let i = 0; i * 8 < bits; i++) {
    const take = Math.min(8, bits - i * 8);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((bytes[i] ?? 0) & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

/** The 16 bytes of a literal IPv6 address (zone id dropped), or null if it is not one. */
export function ipv6Bytes(address: string): number[] | null {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!isIPv6(bare)) return null;
  let text = bare;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = ipv4Bytes(dotted[1]!) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = groups(tail);
  const all =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

function classifyV4(bytes: readonly number[]): AddressRange | null {
  for (const [prefix, bits, range] of IPV4_BLOCKS) if (inBlock(bytes, prefix, bits)) return range;
  return null;
}

/** The IPv4 address an IPv6 form carries (mapped, compatible, NAT64), or null. */
function embeddedV4(bytes: readonly number[]): number[] | null {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12);
  if (zeros(0, 12) && !zeros(12, 14)) return bytes.slice(12); // ::a.b.c.d (not ::, ::1)
  if (inBlock(bytes, [0, 0x64, 0xff, 0x9b], 96)) return bytes.slice(12);
  return null;
}

/** The special range `address` (a literal IPv4 or IPv6 address) is in, or null for a public one. */
export function addressRange(address: string): AddressRange | null {
  if (isIPv4(address)) return classifyV4(ipv4Bytes(address));
  const bytes = ipv6Bytes(address);
  if (!bytes) throw new Error(`addressRange: ${address} is not an IP address`);
  if (bytes.every((b) => b === 0)) return 'unspecified';
  if (bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1) return 'loopback';
  const v4 = embeddedV4(bytes);
  if (v4) return classifyV4(v4);
  for (const [prefix, bits, range] of IPV6_BLOCKS) if (inBlock(bytes, prefix, bits)) return range;
  return null;
}
