import { describe, expect, it } from 'vitest';
import { addressKey } from './connection-cap.js';

describe('addressKey', () => {
  it('counts IPv4 as it is, IPv4-mapped IPv6 as its IPv4', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('counts IPv6 by its /64, however it is written', () => {
    const key = '2001:db8:0:1::/64';
    expect(addressKey('2001:db8:0:1::5')).toBe(key);
    expect(addressKey('2001:0db8:0000:0001:abcd:ef01:2345:6789')).toBe(key);
    expect(addressKey('2001:db8:0:1:ffff::1')).toBe(key);
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('2001:db8:0:2::5')).not.toBe(key);
  });
});
