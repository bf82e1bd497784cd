// Istio's locality load balancing: per calling proxy, endpoint groups get failover priorities (same zone first, then region, then the failover region) or `distribute` weights.
import type { LocalityLbSetting } from '../../api/kinds/destination-rule.js';
import type { MeshConfig } from '../../model/mesh-config.js';
import { uint32, type Msg } from './envoy-values.js';

/**
 * The setting in force for a cluster (Istio's GetLocalityLbSetting): on unless the mesh or the
 * DestinationRule turns it off; the rule's setting, when it has one, replaces the mesh's.
 */
export function localityLbSettingFor(mesh: MeshConfig, rule: LocalityLbSetting | undefined): LocalityLbSetting | undefined {
  let enabled = mesh.localityLbSetting?.enabled !== false;
  if (rule) enabled = rule.enabled !== false;
  if (!enabled) return undefined;
  return rule ?? mesh.localityLbSetting ?? {};
}

/** `region`, `zone`, `subZone` of a `region/zone/subzone` label. */
function parts(label: string): [string, string, string] {
  const [region = '', zone = '', subZone = ''] = label.split('/');
  return [region, zone, subZone];
}

function groupLocality(group: Msg): [string, string, string] {
  const l = group.locality as { region?: string; zone?: string; subZone?: string } | undefined;
  return [l?.region ?? '', l?.zone ?? '', l?.subZone ?? ''];
}

/**
 * Whether a locality matches a rule's `region[/zone[/subzone]]`, where a trailing `*` matches
 * anything from there on (Istio's LocalityMatch; unspecified levels match anything).
 */
export function localityMatches(locality: readonly [string, string, string], pattern: string): boolean {
  const want = pattern.split('/');
  for (let i = 0; i < want.length && i < 3; i++) {
    if (want[i] === '*') return true;
    if (want[i] !== locality[i]) return false;
  }
  return true;
}

/**
 * The groups of one load assignment as the proxy at `proxyLocality` should see them. With
 * `distribute`, the first rule whose `from` matches the proxy sets each group's weight (a `to`
 * entry's share split over the groups it matches, by their weights; unmatched groups lose their
 * endpoints). Otherwise, when `failover` is allowed (the cluster has outlier detection, without
 * which Envoy would never notice unhealthy hosts), groups get priorities: 0 same subzone, 1 same
 * zone, 2 same region, 3 other regions — 4 when a failover rule for the proxy's region names
 * another region — then renumbered without gaps. Returns new group objects; inputs are shared.
 */
export function applyLocalityLb(groups: readonly Msg[], proxyLocality: string, setting: LocalityLbSetting, failover: boolean): Msg[] {
  const proxy = parts(proxyLocality);
  if (setting.distribute && setting.distribute.length > 0) return distribute(groups, proxy, setting.distribute);
  if (!failover) return [...groups];
  const priorities = groups.map((g) => {
    const loc = groupLocality(g);
    let p = loc[0] !== proxy[0] ? 3 : loc[1] !== proxy[1] ? 2 : loc[2] !== proxy[2] ? 1 : 0;
    if (p === 3) {
      const rule = setting.failover?.find((f) => f.from === proxy[0]);
      if (rule && loc[0] !== rule.to) p = 4;
    }
    return p;
  });
  const used = [...new Set(priorities)].sort((a, b) => a - b);
  return groups.map((g, i) => {
    const p = used.indexOf(priorities[i]!);
    return p === 0 ? { ...g } : { ...g, priority: p };
  });
}

function distribute(groups: readonly Msg[], proxy: readonly [string, string, string], rules: NonNullable<LocalityLbSetting['distribute']>): Msg[] {
  const rule = rules.find((r) => r.from !== undefined && localityMatches(proxy, r.from));
  if (!rule?.to) return [...groups];
  const weights = new Map<number, number>();
  const unmatched = new Set(groups.map((_, i) => i));
  for (const [pattern, share] of Object.entries(rule.to)) {
    const matched: Array<[number, number]> = [];
    let total = 0;
    for (const i of unmatched) {
      if (!localityMatches(groupLocality(groups[i]!), pattern)) continue;
      const w = (groups[i]!.loadBalancingWeight as { value?: number } | undefined)?.value ?? 1;
      matched.push([i, w]);
      total += w;
    }
    for (const [i, w] of matched) {
      unmatched.delete(i);
      weights.set(i, Math.ceil((w * share) / total));
    }
  }
  return groups.map((g, i) => (unmatched.has(i) ? { ...g, lbEndpoints: [] } : { ...g, loadBalancingWeight: uint32(weights.get(i)!) }));
}
