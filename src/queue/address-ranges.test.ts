import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressRange, ipv6Bytes } from './address-ranges.ts';

test('IPv4 special ranges are named, their edges included, their neighbours public', () => {
  const cases: [string, string | null][] = [
    ['0.0.0.0', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.15.255.255', null],
    ['172.32.0.0', null],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'shared (CGNAT)'],
    ['100.127.255.255', 'shared (CGNAT)'],
    ['100.128.0.0', null],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['8.8.8.8', null],
    ['93.184.216.34', null],
  ];
  for (const [address, range] of cases) assert.equal(addressRange(address), range, address);
});

test('IPv6 special ranges, and IPv6 forms that carry a special IPv4 address', () => {
  const cases: [string, string | null][] = [
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:100.64.0.1', 'shared (CGNAT)'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['::ffff:8.8.8.8', null],
    ['2606:4700:4700::1111', null],
  ];
  for (const [address, range] of cases) assert.equal(addressRange(address), range, address);
});

test('IPv6 text becomes its 16 bytes; a name is not an address', () => {
  assert.deepEqual(ipv6Bytes('1:2:3:4:5:6:7:8'), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  assert.deepEqual(ipv6Bytes('[::ffff:1.2.3.4]'), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
  assert.equal(ipv6Bytes('example.com'), null);
  assert.throws(() => addressRange('example.com'), /not an IP address/);
});
