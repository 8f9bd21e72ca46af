import { describe, expect, it } from 'vitest';
import { clusterSpecSchema, endpointKey, formatPsEndpoint, ipv6Groups, MAX_PS_TASKS, parsePsEndpoint } from './cluster-spec.js';
import { formatIssues } from './job-spec.js';

const parse = (input: unknown) => {
  const r = clusterSpecSchema.safeParse(input);
  return r.success ? { ok: true as const, spec: r.data } : { ok: false as const, message: formatIssues(r.error.issues) };
};

describe('ClusterSpec', () => {
  it('reads ps tasks in order: IPv4, bracketed IPv6 and hostnames', () => {
    expect(parse({ ps: ['10.0.0.1:2222', '[2001:db8::7]:2223', 'PS1.Example.org:2222', 'localhost:65535'] })).toEqual({
      ok: true,
      spec: {
        ps: [
          { host: '10.0.0.1', port: 2222 },
          { host: '2001:db8::7', port: 2223 },
          { host: 'ps1.example.org', port: 2222 },
          { host: 'localhost', port: 65535 },
        ],
      },
    });
  });

  it('takes 1 to 64 tasks', () => {
    const hosts = (n: number) => Array.from({ length: n }, (_, i) => `ps${i}:2222`);
    expect(parse({ ps: hosts(1) }).ok).toBe(true);
    expect(parse({ ps: hosts(MAX_PS_TASKS) }).ok).toBe(true);
    expect(parse({ ps: [] })).toMatchObject({ ok: false, message: 'ps: names no ps task' });
    expect(parse({ ps: hosts(MAX_PS_TASKS + 1) })).toMatchObject({ ok: false, message: 'ps: names more than 64 ps tasks' });
  });

  it('refuses unknown keys, TensorFlow-style worker lists included, and a missing ps list', () => {
    expect(parse({ ps: ['a:1'], worker: ['w:1'] })).toMatchObject({ ok: false, message: expect.stringMatching(/Unrecognized key: "worker"/) });
    expect(parse({ pss: ['a:1'] }).ok).toBe(false);
    expect(parse({}).ok).toBe(false);
    expect(parse(['a:1']).ok).toBe(false);
    expect(parse({ ps: 'a:1' }).ok).toBe(false);
    expect(parse({ ps: [2222] }).ok).toBe(false);
  });

  it('refuses two entries for one endpoint, however they are written', () => {
    expect(parse({ ps: ['a:1', 'b:1', 'A:1'] })).toMatchObject({ ok: false, message: 'ps.2: a:1 is also ps task 0: each task needs its own endpoint' });
    expect(parse({ ps: ['[::1]:2222', '[0:0:0:0:0:0:0:1]:2222'] })).toMatchObject({ ok: false, message: expect.stringMatching(/^ps\.1: \[0:0:0:0:0:0:0:1\]:2222 is also ps task 0/) });
    expect(parse({ ps: ['[::ffff:10.0.0.1]:2222', '[::ffff:a00:1]:2222'] }).ok).toBe(false);
    expect(parse({ ps: ['a:1', 'a:2', '10.0.0.1:1', '[::1]:1'] }).ok).toBe(true);
  });

  it('names the offending entry and what is wrong with it', () => {
    const cases: [string, RegExp][] = [
      ['ps0', /is not host:port/],
      ['ps0:', /has no port/],
      ['ps0:0', /has no port/],
      ['ps0:65536', /has no port/],
      ['ps0:02222', /has no port/],
      ['ps0:22a', /has no port/],
      ['::1:2222', /is not host:port .*brackets/],
      ['[::1]', /is not host:port/],
      ['[::g]:1', /invalid IPv6/],
      ['[1::2::3]:1', /invalid IPv6/],
      ['[1:2:3:4:5:6:7:8:9]:1', /invalid IPv6/],
      ['[fe80::1%eth0]:1', /invalid IPv6/],
      ['256.0.0.1:1', /invalid IPv4/],
      ['10.0.0:1', /invalid IPv4/],
      ['010.0.0.1:1', /invalid IPv4/],
      [':1', /invalid hostname/],
      ['-a.example:1', /invalid hostname/],
      ['a..b:1', /invalid hostname/],
      ['a_b:1', /invalid hostname/],
      [`${'a'.repeat(64)}.example:1`, /invalid hostname/],
      ['http://ps0:2222', /is not host:port/],
      ['ps0:2222/x', /has no port/],
    ];
    for (const [entry, why] of cases) {
      const r = parse({ ps: ['ok:1', entry] });
      expect(r.ok, entry).toBe(false);
      if (!r.ok) {
        expect(r.message.startsWith(`ps.1: "${entry}" `), r.message).toBe(true);
        expect(r.message, entry).toMatch(why);
      }
    }
  });
});

describe('endpoints', () => {
  it('reads every IPv6 form into eight groups', () => {
    expect(ipv6Groups('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(ipv6Groups('::1')).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(ipv6Groups('1::')).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(ipv6Groups('2001:DB8::8:800:200C:417A')).toEqual([0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]);
    expect(ipv6Groups('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ipv6Groups('::ffff:192.168.0.1')).toEqual([0, 0, 0, 0, 0, 0xffff, 0xc0a8, 1]);
    expect(ipv6Groups('1:2:3:4:5:6:1.2.3.4')).toEqual([1, 2, 3, 4, 5, 6, 0x102, 0x304]);
    for (const bad of ['', ':', ':1', '1:', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '12345::', '1.2.3.4::', '::1.2.3.4:1', '1:2:3:4:5:6:7:1.2.3.4']) {
      expect(ipv6Groups(bad), bad).toBeNull();
    }
  });

  it('formats as the spec writes them, and keys IPv6 by value', () => {
    const e = (s: string) => {
      const r = parsePsEndpoint(s);
      if (!r.ok) throw new Error(r.message);
      return r.endpoint;
    };
    expect(formatPsEndpoint(e('[2001:DB8::1]:2222'))).toBe('[2001:db8::1]:2222');
    expect(formatPsEndpoint(e('Ps0:2222'))).toBe('ps0:2222');
    expect(endpointKey(e('[2001:db8::1]:2222'))).toBe(endpointKey(e('[2001:0db8:0:0:0:0:0:1]:2222')));
    expect(endpointKey(e('[::1]:2222'))).not.toBe(endpointKey(e('[::1]:2223')));
  });
});
