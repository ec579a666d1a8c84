// What a person may type as a trusted IP entry (one canonical range, or a reason why not) and
// which client addresses fall inside it: IPv4, IPv6 and IPv4-mapped IPv6.
import assert from 'node:assert/strict';
import { inRange, normalizeIp, parseRange } from '../../src/policy/ip-ranges.ts';

const cidrOf = (text: string) => {
  const parsed = parseRange(text);
  assert.ok(!('problem' in parsed), `${text}: ${'problem' in parsed ? parsed.problem : ''}`);
  return parsed.cidr;
};
const problemOf = (text: string) => {
  const parsed = parseRange(text);
  assert.ok('problem' in parsed, `${text} should be refused, got ${JSON.stringify(parsed)}`);
  return parsed.problem;
};

describe('IP ranges', () => {
  describe('parseRange', () => {
    it('turns IPv4 addresses and ranges into canonical CIDR (network address, /32 for one address)', () => {
      assert.deepEqual(parseRange('203.0.113.7'), { cidr: '203.0.113.7/32', kind: 'ipv4' });
      assert.equal(cidrOf('203.0.113.7/24'), '203.0.113.0/24');
      assert.equal(cidrOf('  10.20.30.40/16 '), '10.20.0.0/16');
      assert.equal(cidrOf('192.168.1.1/32'), '192.168.1.1/32');
      assert.equal(cidrOf('172.16.5.4/20'), '172.16.0.0/20');
    });

    it('turns IPv6 addresses and ranges into canonical, compressed lower-case CIDR (/128 for one address)', () => {
      assert.deepEqual(parseRange('2001:DB8:0:0:0:0:0:7'), { cidr: '2001:db8::7/128', kind: 'ipv6' });
      assert.equal(cidrOf('2001:db8:abcd:12::1/48'), '2001:db8:abcd::/48');
      assert.equal(cidrOf('2001:0db8::/32'), '2001:db8::/32');
      assert.equal(cidrOf('[2001:db8::1]'), '2001:db8::1/128', 'brackets as in URLs');
    });

    it('treats an IPv4-mapped IPv6 address as the IPv4 address', () => {
      assert.deepEqual(parseRange('::ffff:203.0.113.9'), { cidr: '203.0.113.9/32', kind: 'ipv4' });
      assert.equal(cidrOf('::ffff:203.0.113.9/120'), '203.0.113.0/24', 'its IPv6 prefix length becomes the IPv4 one');
      assert.match(problemOf('::ffff:203.0.113.9/64'), /from 96 to 128/);
    });

    it('refuses what is not an address, with a reason a person can act on', () => {
      for (const text of ['fe80::1%eth0', '10.1', '0x7f.0.0.1', '010.0.0.1', '1.2.3.4.5', '256.1.1.1', 'example.com', '1.2.3.4/8/9', '2001:db8::g', 'gggg::1']) {
        assert.match(problemOf(text), /is not an IP address or range/, text);
      }
      assert.match(problemOf(''), /Enter an IP address/);
      assert.match(problemOf('   '), /Enter an IP address/);
      assert.match(problemOf('1'.repeat(65)), /Enter an IP address/, 'longer than any address');
    });

    it('refuses prefixes out of range or not a number, and /0 (every address)', () => {
      assert.match(problemOf('1.2.3.4/33'), /from 0 to 32/);
      assert.match(problemOf('2001:db8::/129'), /from 0 to 128/);
      for (const text of ['1.2.3.4/', '1.2.3.4/abc', '1.2.3.4/-1', '1.2.3.4/1e1', '1.2.3.4/ 8', '1.2.3.4/024']) assert.match(problemOf(text), /range size/, text);
      assert.match(problemOf('0.0.0.0/0'), /every address/);
      // two /1 ranges are the whole internet: nothing wider than /16 (IPv4) or /32 (IPv6)
      for (const text of ['0.0.0.0/1', '128.0.0.0/1', '10.0.0.0/8', '172.16.0.0/15', '::/1', '8000::/1', '2001:db8::/31', '::ffff:10.0.0.0/104']) assert.match(problemOf(text), /cannot be trusted: the widest is/, text);
      assert.equal(cidrOf('2001:db8::/32'), '2001:db8::/32');
      assert.equal(cidrOf('::ffff:10.1.0.0/112'), '10.1.0.0/16');
      assert.match(problemOf('::/0'), /every address/);
      assert.match(problemOf('203.0.113.7/0'), /every address/);
    });
  });

  describe('inRange', () => {
    it('matches IPv4 clients inside a range and not outside it', () => {
      assert.equal(inRange('203.0.113.9', '203.0.113.0/24'), true);
      assert.equal(inRange('203.0.113.255', '203.0.113.0/24'), true);
      assert.equal(inRange('203.0.114.0', '203.0.113.0/24'), false);
      assert.equal(inRange('203.0.113.7', '203.0.113.7/32'), true);
      assert.equal(inRange('203.0.113.8', '203.0.113.7/32'), false);
    });

    it('matches IPv6 clients, whatever way the address is written', () => {
      assert.equal(inRange('2001:db8:abcd:12::99', '2001:db8:abcd::/48'), true);
      assert.equal(inRange('2001:DB8:ABCD:0012:0:0:0:99', '2001:db8:abcd::/48'), true);
      assert.equal(inRange('2001:db8:abce::1', '2001:db8:abcd::/48'), false);
      assert.equal(inRange('2001:db8::7', '2001:db8::7/128'), true);
    });

    it('matches an IPv4-mapped client (as Node reports IPv4 on a dual-stack socket) against IPv4 ranges', () => {
      assert.equal(inRange('::ffff:203.0.113.9', '203.0.113.0/24'), true);
      assert.equal(inRange('::ffff:198.51.100.1', '203.0.113.0/24'), false);
    });

    it('never matches across families, bad client addresses or bad ranges', () => {
      assert.equal(inRange('203.0.113.9', '2001:db8::/32'), false);
      assert.equal(inRange('2001:db8::1', '203.0.113.0/24'), false);
      assert.equal(inRange('10.1', '10.0.0.0/8'), false, 'a legacy short form is not an address');
      assert.equal(inRange('', '10.0.0.0/8'), false);
      assert.equal(inRange('not an ip', '10.0.0.0/8'), false);
      assert.equal(inRange('10.0.0.1', 'garbage'), false);
      assert.equal(inRange('10.0.0.1', '10.0.0.0'), false, 'a range needs its prefix');
    });
  });

  describe('normalizeIp', () => {
    it('gives the canonical form of a client address', () => {
      assert.equal(normalizeIp('127.0.0.1'), '127.0.0.1');
      assert.equal(normalizeIp('::ffff:127.0.0.1'), '127.0.0.1');
      assert.equal(normalizeIp('2001:0DB8:0000::0001'), '2001:db8::1');
      assert.equal(normalizeIp('[::1]'), '::1');
      assert.equal(normalizeIp(' 203.0.113.9 '), '203.0.113.9');
    });

    it('gives undefined for what is not an address', () => {
      for (const text of ['', '10.1', '0x7f.0.0.1', 'localhost', '1.2.3.4/24', '999.1.1.1']) assert.equal(normalizeIp(text), undefined, text);
    });
  });
});
